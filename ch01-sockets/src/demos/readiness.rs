//! Section 1.6, demo `readiness`: let the OS tell us when the data is there. The busy poll's
//! wait, but asleep in `poll` (epoll, kqueue) until the socket is readable or a tick is due: the
//! thread stays free for other work, and the wait costs almost no CPU.

use std::io::{self, Read};
use std::net::SocketAddr;

use anyhow::{Context as _, ensure};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;
use shared::narrate::plural;
use shared::timing::{human, human_ms, ms, ratio};
use shared::{Narrator, Report, Span};
use tracing::info_span;

use crate::demos::busy_poll::{self, BusyPoll};
use crate::waits::{REPLY, Ticker, slow_server, the_span, ticks};
use crate::{SECTION, cli::Sizes};

// ---- the lesson: register the socket, sleep until the OS says it is readable ----

const SOCKET: Token = Token(0);

/// Listing 3.7 registers its sockets with a selector and sleeps in `selector.select(timeout)`
/// until one is ready. mio's `Poll` is the same thing (epoll on Linux, kqueue on macOS), here for
/// one socket: "wake me when it is readable", then read what is there. With a ticker, `poll`'s
/// timeout wakes the thread when a tick is due; without one it sleeps until the data comes.
/// Returns the reply, how many times `poll` returned, and how many of those for our socket.
pub fn wait_for_readable(
    server: SocketAddr,
    mut ticker: Option<&mut Ticker>,
) -> io::Result<(Vec<u8>, u64, u64)> {
    info_span!("readiness").in_scope(|| {
        let mut stream = TcpStream::from_std(busy_poll::connect_nonblocking(server)?);
        let mut poll = Poll::new()?;
        poll.registry()
            .register(&mut stream, SOCKET, Interest::READABLE)?;
        let mut events = Events::with_capacity(8);
        let (mut reply, mut wakeups, mut readable) = (Vec::new(), 0, 0);
        // mio reports an edge (the socket *became* readable): read all there is every time.
        while !read_what_is_there(&mut stream, &mut reply)? {
            if let Some(ticker) = ticker.as_deref_mut() {
                ticker.tick_if_due();
            }
            let timeout = ticker.as_deref().map(Ticker::until_next);
            // The thread sleeps in here until the socket is ready (or the ticker is due).
            match info_span!("in poll()").in_scope(|| poll.poll(&mut events, timeout)) {
                Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
                // A stop and continue (Ctrl-Z, `fg`) ends the wait early: just wait again.
                // mutants: `false` is equivalent here: poll fails in no other way in this demo.
                _ => {}
            }
            wakeups += 1;
            readable += u64::from(events.iter().any(|event| event.token() == SOCKET));
        }
        Ok((reply, wakeups, readable))
    })
}

/// Reads until `WouldBlock`; true once the server has closed (the whole reply is in).
fn read_what_is_there(stream: &mut TcpStream, reply: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 256];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

// ---- measuring it: the same wait three ways, CPU time read from the spans ----

/// A wait through `poll`, measured.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// `readiness` (no ticker) or `readiness_with_ticker`.
    pub name: &'static str,
    /// How long the `readiness` span was open: connect, register, wait, read.
    pub wall_ms: f64,
    /// CPU time the waiting thread used inside it.
    pub cpu_ms: f64,
    /// How many times `poll` returned (readiness events and ticker timeouts).
    pub wakeups: u64,
    /// How many of those returns reported the socket ready.
    pub readable_events: u64,
    /// Ticks of the same-thread ticker during the wait.
    pub ticks_while_waiting: u64,
    /// This wait's CPU time as a percentage of the busy poll's, measured in the same run.
    pub cpu_percent_of_busy_poll: f64,
    /// The `readiness`, `in poll()`, `server waits` and `ticker` spans.
    #[serde(skip)]
    pub spans: Vec<Span>,
}

/// The row `name`: a wait through mio for the slow server, a ticker on the thread if `ticking`.
fn measure_one(name: &'static str, sizes: &Sizes, ticking: bool) -> anyhow::Result<Readiness> {
    let (delay, tick) = sizes.delay_and_tick();
    let (waited, spans) = shared::trace::record(|| {
        let server = slow_server(delay).context("starting the local server")?;
        let mut ticker = ticking.then(|| Ticker::new(tick, "main"));
        wait_for_readable(server, ticker.as_mut()).context("waiting")
    });
    let (reply, wakeups, readable_events) = waited?;
    ensure!(reply == REPLY, "the server's reply arrived incomplete");
    let wait = the_span(&spans, "readiness")?;
    Ok(Readiness {
        name,
        wall_ms: ms(wait.wall()),
        cpu_ms: ms(wait.cpu()),
        wakeups,
        readable_events,
        ticks_while_waiting: ticks(&spans, "main", |tick| wait.contains(tick)),
        cpu_percent_of_busy_poll: 0.0, // once the busy poll is measured
        spans,
    })
}

/// Both waits through `poll` (alone, then ticking), then a busy poll of the same wait.
pub fn measure(sizes: &Sizes) -> anyhow::Result<(Readiness, Readiness, BusyPoll)> {
    let mut alone = measure_one("readiness", sizes, false)?;
    let mut ticking = measure_one("readiness_with_ticker", sizes, true)?;
    let busy = busy_poll::measure(sizes)?;
    for wait in [&mut alone, &mut ticking] {
        wait.cpu_percent_of_busy_poll = ratio(wait.cpu_ms, busy.cpu_ms) * 100.0;
    }
    Ok((alone, ticking, busy))
}

/// The demo, narrated.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    let title = "Readiness: the OS tells us when data has come";
    let claim = "Register the socket with the OS (epoll/kqueue via mio) and sleep until it is \
                 readable: the same wait costs almost no CPU.";
    narrator.header(SECTION, title, claim);
    narrator.say(format!(
        "Same server (reply after {}). The thread sleeps in poll() until the socket is \
         readable; then again with a ticker on the same thread (poll's timeout wakes us for \
         it). And the busy poll again, to compare.",
        human(sizes.delay_and_tick().0)
    ));
    let (alone, ticking, busy) = measure(sizes)?;
    let rows = Report::mixed("readiness", SECTION).with(&alone);
    narrator.report(&rows.with(&ticking).with(&busy));
    let title = "waiting through poll() with a ticker (asleep between wakeups)";
    narrator.timeline(title, &ticking.spans);
    let busy_core = match busy.idle_core {
        true => ".".to_string(),
        false => format!(
            ", and the busy poll got only {:.0}% of a core on this busy machine: on an idle \
             core it would have burnt all {}.",
            busy.cpu_percent_of_wall,
            human_ms(busy.wall_ms)
        ),
    };
    let times = |count| plural(count, "time", "times");
    let timeouts = ticking.wakeups - ticking.readable_events;
    let lines = [
        format!(
            "Waiting {} through poll() cost {} of CPU: {:.2}% of the busy poll's {}{busy_core}",
            human_ms(alone.wall_ms),
            human_ms(alone.cpu_ms),
            alone.cpu_percent_of_busy_poll,
            human_ms(busy.cpu_ms),
        ),
        format!(
            "Alone, poll() returned {}. With the ticker it returned {} ({} for the ticker, {} \
             for the socket) and still cost only {} of CPU: the thread was free for other work \
             and slept in between.",
            times(alone.wakeups),
            times(ticking.wakeups),
            plural(timeouts, "timeout", "timeouts"),
            ticking.readable_events,
            human_ms(ticking.cpu_ms)
        ),
        "Non-blocking mode only makes a call return at once (WouldBlock) instead of waiting; \
         readiness notification (epoll, here through mio) is the OS telling us when a socket is \
         ready. With both, one thread can wait on many sockets (next: an echo server)."
            .into(),
    ];
    narrator.summary(SECTION, &lines);
    Ok(())
}
