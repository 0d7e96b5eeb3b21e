//! Section 1.6, demo `busy-poll`: non-blocking mode, and the cost of asking again and again. The
//! thread is free to do other work (its ticker keeps ticking), but if the only way to learn that
//! data arrived is to call `read` again, the loop that keeps asking burns a core the whole wait.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use serde::Serialize;
use shared::narrate::plural;
use shared::timing::{human, human_ms, ms, ratio};
use shared::{Narrator, Report, Span};
use tracing::info_span;

use crate::waits::{REPLY, Ticker, slow_server, the_span, ticks};
use crate::{SECTION, cli::Sizes};

// ---- the lesson: a non-blocking socket, asked again and again ----

/// Listing 3.5's `setblocking(False)`: from now on a call on this socket that cannot complete
/// returns `WouldBlock` (Python's `BlockingIOError`) at once instead of waiting.
pub fn connect_nonblocking(server: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(server)?;
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// Listing 3.6 catches `BlockingIOError` and simply goes round its loop again. Between two tries
/// the thread is free for other work (the ticker), but nothing tells it when the data has come,
/// so it asks, and asks. Returns the reply and how many reads answered `WouldBlock`.
pub fn busy_poll(stream: &mut TcpStream, ticker: &mut Ticker) -> io::Result<(Vec<u8>, u64)> {
    info_span!("busy poll").in_scope(|| {
        let mut reply = Vec::new();
        let mut chunk = [0u8; 256];
        let mut would_block = 0;
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return Ok((reply, would_block)),
                Ok(n) => reply.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Nothing yet: do a little other work, then ask again... and again.
                    would_block += 1;
                    ticker.tick_if_due();
                }
                Err(e) => return Err(e),
            }
        }
    })
}

// ---- measuring it: the first read timed, the loop's CPU time read from its span ----

/// What the busy poll cost.
#[derive(Debug, Clone, Serialize)]
pub struct BusyPoll {
    /// Always `busy_poll`.
    pub name: &'static str,
    /// How long the `busy poll` span was open: from the first try to the reply.
    pub wall_ms: f64,
    /// CPU time the polling thread used inside that span.
    pub cpu_ms: f64,
    /// How many `read` calls answered `WouldBlock`.
    pub would_block_count: u64,
    /// Ticks of the same-thread ticker inside the span.
    pub ticks_while_waiting: u64,
    /// `cpu_ms` as a percentage of `wall_ms`: how much of a core the loop got.
    pub cpu_percent_of_wall: f64,
    /// Whether the loop had a core to itself (at least 80% of the wait on a CPU: a loop that
    /// never blocks gets less only when the OS shares its core with other programs).
    pub idle_core: bool,
    /// How long a `read` right after connecting (nothing sent yet) took to say `WouldBlock`.
    #[serde(skip)]
    pub first_read_took: Duration,
    /// The `busy poll` span, the `server waits` span and the `ticker` spans.
    #[serde(skip)]
    pub spans: Vec<Span>,
}

/// Busy-polls a server that replies after `--delay-ms`, ticking every `--tick-ms` between
/// tries; fails unless the first read said `WouldBlock` and the whole reply came.
pub fn measure(sizes: &Sizes) -> anyhow::Result<BusyPoll> {
    let (delay, tick) = sizes.delay_and_tick();
    let (polled, spans) = shared::narrate::record("busy polling read()", "busy poll", None, || {
        let server = slow_server(delay).context("starting the local server")?;
        let mut stream = connect_nonblocking(server).context("connecting")?;
        // One read by hand first, to time it: the server has not sent anything yet.
        let asked = Instant::now();
        let first_read = stream.read(&mut [0u8; 1]);
        let took = asked.elapsed();
        let would_block = matches!(&first_read, Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        ensure!(would_block, "the first read said {first_read:?}");
        let polled = busy_poll(&mut stream, &mut Ticker::new(tick, "main"));
        anyhow::Ok((polled.context("reading the reply")?, took))
    });
    let ((reply, would_block_count), first_read_took) = polled?;
    ensure!(reply == REPLY, "the server's reply arrived incomplete");
    let busy = the_span(&spans, "busy poll")?;
    let (wall_ms, cpu_ms) = (ms(busy.wall()), ms(busy.cpu()));
    let cpu_percent_of_wall = ratio(cpu_ms, wall_ms) * 100.0;
    Ok(BusyPoll {
        name: "busy_poll",
        wall_ms,
        cpu_ms,
        would_block_count,
        ticks_while_waiting: ticks(&spans, "main", |tick| busy.contains(tick)),
        cpu_percent_of_wall,
        idle_core: cpu_percent_of_wall >= 80.0,
        first_read_took,
        spans,
    })
}

/// The demo, narrated.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    let title = "Non-blocking mode: the OS answers at once";
    let claim = "A non-blocking read returns WouldBlock immediately; asking again in a loop \
                 burns a whole core.";
    narrator.header(SECTION, title, claim);
    narrator.say(format!(
        "Same server (reply after {}), but the socket is non-blocking and we call read() in \
         a loop until the data is there, ticking in between.",
        human(sizes.delay_and_tick().0)
    ));
    let polled = measure(sizes)?;
    narrator.report(&Report::new("busy-poll", SECTION, vec![&polled]));
    let busy = format!(
        ". It never stopped asking; the OS gave the core to other programs part of the time \
         (this machine is busy), or it would have used all {}.",
        human_ms(polled.wall_ms)
    );
    let (always, all_of_it) = match polled.idle_core {
        true => ("on the CPU the whole time", ", all of it spent asking."),
        false => ("never asleep: it waits only for a busy CPU", busy.as_str()),
    };
    let title = format!("busy polling (the loop is {always})");
    narrator.timeline(&title, &polled.spans);
    let times = |count| plural(count, "time", "times");
    let summary = [
        format!(
            "The first read() said WouldBlock after {}: a non-blocking socket never waits.",
            human(polled.first_read_took)
        ),
        format!(
            "The thread stayed free (its ticker ticked {}), but asking {} cost {} of CPU for \
             {} of waiting: {:.0}% of a core{all_of_it}",
            times(polled.ticks_while_waiting),
            times(polled.would_block_count),
            human_ms(polled.cpu_ms),
            human_ms(polled.wall_ms),
            polled.cpu_percent_of_wall,
        ),
        "Non-blocking mode alone lets us do other things while waiting; we still need the OS \
         to tell us when data came (next demo)."
            .into(),
    ];
    narrator.summary(SECTION, &summary);
    Ok(())
}
