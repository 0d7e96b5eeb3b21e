//! Section 1.6, demo `blocking`: sockets block by default. While `read` waits for a slow local
//! server, a ticker on the same thread cannot tick once; a ticker on another thread keeps ticking.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, ensure};
use serde::Serialize;
use shared::narrate::plural;
use shared::timing::{human, human_ms, ms};
use shared::{Narrator, Report, Span};
use tracing::info_span;

use crate::waits::{REPLY, Ticker, slow_server, the_span, ticks};
use crate::{SECTION, cli::Sizes};

// ---- the lesson: a read on an ordinary (blocking) socket ----

/// The book's listing 3.2 waits in `connection.recv(2)` on a blocking socket; this is the same
/// call on the client's side: connect, then `read` until the server closes. `read` returns only
/// when bytes have arrived, so the thread that calls it can do nothing else meanwhile.
pub fn ask_and_wait(server: SocketAddr) -> io::Result<Vec<u8>> {
    info_span!("blocking read").in_scope(|| {
        let mut stream = TcpStream::connect(server)?;
        let mut reply = Vec::new();
        let mut chunk = [0u8; 256];
        loop {
            // Halts here until bytes arrive; 0 means the server has closed.
            match stream.read(&mut chunk)? {
                0 => return Ok(reply),
                n => reply.extend_from_slice(&chunk[..n]),
            }
        }
    })
}

// ---- measuring it: tickers around the read, the spans recorded, ticks counted ----

/// What the blocking read did.
#[derive(Debug, Clone, Serialize)]
pub struct Blocking {
    /// Always `blocking`.
    pub name: &'static str,
    /// How long the `blocking read` span was open: connect, then the wait for the reply.
    pub wall_ms: f64,
    /// Ticks of the ticker on the reading thread while the read was open.
    pub ticks_while_blocked: u64,
    /// Ticks of the ticker on its own thread during the same read.
    pub other_thread_ticks: u64,
    /// The `blocking read`, the `server waits` and every `ticker` span.
    #[serde(skip)]
    pub spans: Vec<Span>,
}

/// Runs [`ask_and_wait`] against a server that replies after `--delay-ms`, with a ticker every
/// `--tick-ms` on this thread and one on a thread of its own; fails unless the whole reply came.
pub fn measure(sizes: &Sizes) -> anyhow::Result<Blocking> {
    let (delay, tick) = sizes.delay_and_tick();
    let what = "waiting in a blocking read()";
    let (reply, spans) = shared::narrate::record(what, "blocking read", None, || {
        let server = slow_server(delay).context("starting the local server")?;
        let stop = &AtomicBool::new(false);
        std::thread::scope(|scope| {
            let mut other = Ticker::new(tick, "other thread");
            let other = move || other.tick_while(|| !stop.load(Ordering::SeqCst));
            let builder = std::thread::Builder::new().name("ticker".into());
            builder.spawn_scoped(scope, other)?;
            // The main thread ticks happily for a moment, reads, and ticks again afterwards.
            let mut ticker = Ticker::new(tick, "main");
            ticker.tick_for(tick * 3);
            let reply = ask_and_wait(server).context("reading the reply");
            ticker.tick_for(tick * 3);
            stop.store(true, Ordering::SeqCst);
            reply
        })
    });
    ensure!(reply? == REPLY, "the server's reply arrived incomplete");
    let read = the_span(&spans, "blocking read")?;
    Ok(Blocking {
        name: "blocking",
        wall_ms: ms(read.wall()),
        // Any overlap at all counts here: the claim is that there is none.
        ticks_while_blocked: ticks(&spans, "main", |tick| tick.overlaps(&read)),
        // Only ticks wholly inside the read count as "kept going during it".
        other_thread_ticks: ticks(&spans, "other thread", |tick| read.contains(tick)),
        spans,
    })
}

/// The demo, narrated.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    let claim = "A blocking read halts its thread until the data arrives: nothing else runs on \
                 that thread.";
    narrator.header(SECTION, "Sockets block by default", claim);
    let (delay, tick) = sizes.delay_and_tick();
    narrator.say(format!(
        "A local server replies {} after we connect. Two tickers want to tick every {}: one \
         on the thread that calls read(), one on a thread of its own.",
        human(delay),
        human(tick)
    ));
    let blocking = measure(sizes)?;
    narrator.report(&Report::new("blocking", SECTION, vec![&blocking]));
    let title = "a blocking read (the main thread's ticker stops while read() waits)";
    narrator.timeline(title, &blocking.spans);
    let times = |count| plural(count, "time", "times");
    let held = format!(
        "read() held the main thread for {}; its ticker ticked {} meanwhile, the ticker on its \
         own thread {}. Sockets block by default: waiting for a server's reply halts the program \
         (or at least the thread) until the data comes.",
        human_ms(blocking.wall_ms),
        times(blocking.ticks_while_blocked),
        times(blocking.other_thread_ticks)
    );
    narrator.summary(SECTION, &[held]);
    Ok(())
}
