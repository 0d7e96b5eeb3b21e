//! Section 1.6, demo `blocking`: sockets block by default.
//!
//! A client asks a local server that answers only after a delay. While `read` waits, the thread
//! that called it is halted: a ticker on that same thread cannot tick once, while a ticker on
//! another thread keeps ticking.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use shared::legacy::report::{DemoReport, Measurement};
use shared::legacy::{Narrator, Span, SpanKind, SpanRecorder};

use crate::SECTION;
use crate::slow_reply::{REPLY, SlowReply, read_reply_blocking};
use crate::ticker::{Ticker, TickerThread, tick_for, ticks_between};

const SAME_THREAD_ROW: &str = "main: ticker";
const OTHER_THREAD_ROW: &str = "thread 2: ticker";
const READ_ROW: &str = "main: read()";

/// What the blocking read did.
#[derive(Debug, Clone)]
pub struct BlockingOutcome {
    /// How long `read` kept the thread.
    pub wall: Duration,
    /// Ticks of the ticker on the reading thread while `read` waited.
    pub ticks_while_blocked: u64,
    /// Ticks of the ticker on its own thread during the same wait.
    pub other_thread_ticks: u64,
    /// The bytes received.
    pub reply: Vec<u8>,
    /// Everything recorded, for the timeline.
    pub spans: Vec<Span>,
}

/// Runs the blocking read against a server that replies after `delay`, with tickers every `tick`.
pub fn measure(delay: Duration, tick: Duration) -> anyhow::Result<BlockingOutcome> {
    let recorder = Arc::new(SpanRecorder::new());
    let server =
        SlowReply::start(delay, Arc::clone(&recorder)).context("starting the local server")?;
    let other = TickerThread::start(tick, Arc::clone(&recorder), OTHER_THREAD_ROW)?;
    let mut ticker = Ticker::new(tick);

    // The main thread ticks happily for a moment, calls `read`, and ticks again afterwards.
    tick_for(&mut ticker, &recorder, SAME_THREAD_ROW, tick * 3);
    let mut stream = server.connect().context("connecting to the local server")?;
    let started = Instant::now();
    let reply = read_reply_blocking(&mut stream).context("reading the reply")?;
    let finished = Instant::now();
    recorder.record(READ_ROW, SpanKind::WaitIo, started, finished);
    tick_for(&mut ticker, &recorder, SAME_THREAD_ROW, tick * 3);

    let other_ticks = other.stop();
    ensure!(reply == REPLY, "the server's reply arrived incomplete");
    Ok(BlockingOutcome {
        wall: finished - started,
        ticks_while_blocked: ticks_between(ticker.ticks(), started, finished),
        other_thread_ticks: ticks_between(&other_ticks, started, finished),
        reply,
        spans: recorder.spans(),
    })
}

/// The demo, narrated.
pub fn run(narrator: &Narrator, delay: Duration, tick: Duration) -> anyhow::Result<DemoReport> {
    narrator.header(
        SECTION,
        "Sockets block by default",
        "A blocking read halts its thread until the data arrives: nothing else runs on that thread.",
    );
    narrator.say(format!(
        "A local server replies {} ms after we connect. Two tickers want to tick every {} ms:\n\
         one on the thread that calls read(), one on a thread of its own.",
        delay.as_millis(),
        tick.as_millis()
    ));
    let progress = narrator.progress("waiting in a blocking read()", None);
    let outcome = measure(delay, tick)?;
    drop(progress);

    let mut report = DemoReport::new("blocking", SECTION);
    report.push(
        Measurement::new("blocking", outcome.wall)
            .field("ticks_while_blocked", outcome.ticks_while_blocked as f64)
            .field("other_thread_ticks", outcome.other_thread_ticks as f64),
    );
    narrator.report(&report, None);
    narrator.timeline(
        "a blocking read (the same-thread ticker stops while read() waits)",
        &outcome.spans,
    );
    narrator.summary(
        SECTION,
        &[
            &format!(
                "read() held the main thread for {:.0} ms; its ticker ticked {} times meanwhile, \
                 the ticker on its own thread {} times.",
                outcome.wall.as_secs_f64() * 1e3,
                outcome.ticks_while_blocked,
                outcome.other_thread_ticks
            ),
            "Sockets are blocking by default: waiting for a server's reply halts the program \
             (or at least the thread) until the data comes.",
        ],
    );
    Ok(report)
}
