//! Section 1.6, demo `busy-poll`: non-blocking mode, and the cost of asking again and again.
//!
//! With `set_nonblocking(true)`, `read` on a socket with nothing to read returns `WouldBlock` at
//! once instead of waiting. The thread is free to do other work (the ticker on the same thread
//! keeps ticking) — but if the only way to learn that data arrived is to call `read` again, the
//! loop that keeps asking burns a whole core for the entire wait.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use shared::legacy::report::{DemoReport, Measurement};
use shared::legacy::{Narrator, Span, SpanKind, SpanRecorder};
use shared::timing::thread_cpu_time;

use super::WAIT_MARGIN;
use crate::SECTION;
use crate::slow_reply::{REPLY, SlowReply};
use crate::ticker::{Ticker, ticks_between};

const TICK_ROW: &str = "main: ticker";
const LOOP_ROW: &str = "main: read() loop";

/// What the busy poll cost.
#[derive(Debug, Clone)]
pub struct BusyPollOutcome {
    /// From the first `read` to the reply.
    pub wall: Duration,
    /// CPU time of the polling thread over the same interval.
    pub cpu: Duration,
    /// How many `read` calls answered `WouldBlock`.
    pub would_block_count: u64,
    /// Whether the very first `read` (nothing sent yet) returned `WouldBlock`.
    pub first_read_would_block: bool,
    /// How long that first `read` took.
    pub first_read_took: Duration,
    /// Ticks of the same-thread ticker during the wait.
    pub ticks_while_waiting: u64,
    /// The bytes received.
    pub reply: Vec<u8>,
    /// Everything recorded, for the timeline.
    pub spans: Vec<Span>,
}

/// Polls a non-blocking socket in a loop until a server that replies after `delay` has replied.
pub fn measure(delay: Duration, tick: Duration) -> anyhow::Result<BusyPollOutcome> {
    let recorder = Arc::new(SpanRecorder::new());
    let server =
        SlowReply::start(delay, Arc::clone(&recorder)).context("starting the local server")?;
    let mut stream = server.connect().context("connecting to the local server")?;
    stream.set_nonblocking(true)?;
    let mut ticker = Ticker::new(tick);
    let mut reply = Vec::new();
    let mut chunk = [0u8; 256];
    let mut would_block_count = 0u64;
    let mut first_read = None;

    let deadline = Instant::now() + delay + WAIT_MARGIN;
    let cpu_before = thread_cpu_time();
    let started = Instant::now();
    while reply.len() < REPLY.len() {
        let result = stream.read(&mut chunk);
        first_read.get_or_insert_with(|| {
            (
                matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
                started.elapsed(),
            )
        });
        match result {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Nothing yet: the thread is free. Do other work, then ask again... and again.
                would_block_count += 1;
                ticker.tick_if_due(&recorder, TICK_ROW);
                if Instant::now() > deadline {
                    bail!("no reply within {:?}", delay + WAIT_MARGIN);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the reply"),
        }
    }
    let finished = Instant::now();
    let cpu = thread_cpu_time().saturating_sub(cpu_before);
    recorder.record(LOOP_ROW, SpanKind::Cpu, started, finished);
    ensure!(reply == REPLY, "the server's reply arrived incomplete");
    let (first_read_would_block, first_read_took) = first_read.unwrap_or_default();
    Ok(BusyPollOutcome {
        wall: finished - started,
        cpu,
        would_block_count,
        first_read_would_block,
        first_read_took,
        ticks_while_waiting: ticks_between(ticker.ticks(), started, finished),
        reply,
        spans: recorder.spans(),
    })
}

/// The demo, narrated.
pub fn run(narrator: &Narrator, delay: Duration, tick: Duration) -> anyhow::Result<DemoReport> {
    narrator.header(
        SECTION,
        "Non-blocking mode: the OS answers at once",
        "A non-blocking read returns WouldBlock immediately; asking again in a loop burns a whole core.",
    );
    narrator.say(format!(
        "Same server (reply after {} ms), but the socket is non-blocking and we call read() in a \
         loop until the data is there, ticking in between.",
        delay.as_millis()
    ));
    let progress = narrator.progress("busy polling read()", None);
    let outcome = measure(delay, tick)?;
    drop(progress);

    let mut report = DemoReport::new("busy-poll", SECTION);
    report.push(
        Measurement::new("busy_poll", outcome.wall)
            .cpu(outcome.cpu)
            .field("would_block_count", outcome.would_block_count as f64)
            .field("ticks_while_waiting", outcome.ticks_while_waiting as f64),
    );
    narrator.report(&report, None);
    narrator.timeline(
        "busy polling (the loop is on the CPU the whole time)",
        &outcome.spans,
    );
    narrator.summary(
        SECTION,
        &[
            &format!(
                "The first read() returned {} after {:.1} µs: a non-blocking socket never waits.",
                if outcome.first_read_would_block {
                    "WouldBlock"
                } else {
                    "data"
                },
                outcome.first_read_took.as_secs_f64() * 1e6
            ),
            &format!(
                "The thread stayed free (its ticker ticked {} times), but asking {} times cost \
                 {:.0} ms of CPU for {:.0} ms of waiting.",
                outcome.ticks_while_waiting,
                outcome.would_block_count,
                outcome.cpu.as_secs_f64() * 1e3,
                outcome.wall.as_secs_f64() * 1e3
            ),
            "Non-blocking mode alone lets us do other things while waiting; we still need the OS \
             to *tell* us when data came (next demo).",
        ],
    );
    Ok(report)
}
