//! Section 1.6, demo `readiness`: let the OS tell us when the data is there.
//!
//! The same wait as the busy poll, but the socket is registered with the OS's readiness
//! notification (epoll on Linux, kqueue on macOS, through mio's `Poll`). The thread sleeps in
//! `poll` until the socket is readable — or until the ticker is due, because `poll` takes a
//! timeout. The thread stays free for other work, and the wait costs almost no CPU.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use shared::legacy::report::{DemoReport, Measurement};
use shared::legacy::{Narrator, Span, SpanKind, SpanRecorder};
use shared::timing::thread_cpu_time;

use super::WAIT_MARGIN;
use crate::SECTION;
use crate::slow_reply::{REPLY, SlowReply};
use crate::ticker::{Ticker, ticks_between};

const SOCKET: Token = Token(0);
const TICK_ROW: &str = "main: ticker";
const POLL_ROW: &str = "main: in poll()";

/// What the wait through readiness notification cost.
#[derive(Debug, Clone)]
pub struct ReadinessOutcome {
    /// From registering to the reply.
    pub wall: Duration,
    /// CPU time of the waiting thread over the same interval.
    pub cpu: Duration,
    /// How many times `poll` returned (readiness events and ticker timeouts).
    pub wakeups: u64,
    /// How many of those returns reported our socket ready.
    pub readable_events: u64,
    /// Ticks of the same-thread ticker during the wait.
    pub ticks_while_waiting: u64,
    /// The bytes received.
    pub reply: Vec<u8>,
    /// Everything recorded, for the timeline.
    pub spans: Vec<Span>,
}

/// Waits through mio for a server that replies after `delay`; with `tick`, the same thread also
/// ticks that often (poll's timeout wakes it for the ticker), without it poll sleeps until readable.
pub fn measure(delay: Duration, tick: Option<Duration>) -> anyhow::Result<ReadinessOutcome> {
    let recorder = Arc::new(SpanRecorder::new());
    let server =
        SlowReply::start(delay, Arc::clone(&recorder)).context("starting the local server")?;
    let std_stream = server.connect().context("connecting to the local server")?;
    std_stream.set_nonblocking(true)?;
    let mut stream = TcpStream::from_std(std_stream);
    let mut poll = Poll::new().context("creating the poller")?;
    let mut events = Events::with_capacity(8);
    let mut ticker = tick.map(Ticker::new);
    let mut reply = Vec::new();
    let (mut wakeups, mut readable_events) = (0u64, 0u64);

    let deadline = Instant::now() + delay + WAIT_MARGIN;
    let cpu_before = thread_cpu_time();
    let started = Instant::now();
    // "Tell me when this socket has something to read."
    poll.registry()
        .register(&mut stream, SOCKET, Interest::READABLE)
        .context("registering the socket")?;
    loop {
        // Readiness comes as an edge: read everything there is before sleeping again.
        if drain(&mut stream, &mut reply)? || reply.len() >= REPLY.len() {
            break;
        }
        if let Some(ticker) = &mut ticker {
            ticker.tick_if_due(&recorder, TICK_ROW);
        }
        if Instant::now() > deadline {
            bail!("no reply within {:?}", delay + WAIT_MARGIN);
        }
        let asleep = Instant::now();
        // The thread sleeps here until the socket is ready (or the ticker is due): no CPU used.
        // Without a ticker the timeout only bounds the wait, it never fires in a working run.
        let timeout = match &ticker {
            Some(ticker) => ticker.until_next(),
            None => deadline.saturating_duration_since(Instant::now()),
        };
        match poll.poll(&mut events, Some(timeout)) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("waiting in poll"),
            Ok(()) => {}
        }
        recorder.record(POLL_ROW, SpanKind::WaitIo, asleep, Instant::now());
        wakeups += 1;
        if events.iter().any(|event| event.token() == SOCKET) {
            readable_events += 1;
        }
    }
    let finished = Instant::now();
    let cpu = thread_cpu_time().saturating_sub(cpu_before);
    ensure!(reply == REPLY, "the server's reply arrived incomplete");
    Ok(ReadinessOutcome {
        wall: finished - started,
        cpu,
        wakeups,
        readable_events,
        ticks_while_waiting: ticker.map_or(0, |t| ticks_between(t.ticks(), started, finished)),
        reply,
        spans: recorder.spans(),
    })
}

/// Reads until `WouldBlock`; true when the server closed the connection.
fn drain(stream: &mut TcpStream, reply: &mut Vec<u8>) -> anyhow::Result<bool> {
    let mut chunk = [0u8; 256];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading the reply"),
        }
    }
}

/// The demo, narrated; also measures a busy poll of the same wait to compare.
pub fn run(narrator: &Narrator, delay: Duration, tick: Duration) -> anyhow::Result<DemoReport> {
    narrator.header(
        SECTION,
        "Readiness: the OS tells us when data has come",
        "Register the socket with the OS (epoll/kqueue via mio) and sleep until it is readable: \
         the same wait costs almost no CPU.",
    );
    narrator.say(format!(
        "Same server (reply after {} ms). The thread sleeps in poll() until the socket is \
         readable. Then once more with a ticker on the same thread (poll's timeout wakes us \
         for it), and, for comparison, the busy poll again.",
        delay.as_millis()
    ));
    let progress = narrator.progress("waiting through poll(), then busy polling", None);
    let outcome = measure(delay, None)?;
    let ticking = measure(delay, Some(tick))?;
    let busy = super::busy_poll::measure(delay, tick)?;
    drop(progress);

    let cpu_share = outcome.cpu.as_secs_f64() / busy.cpu.as_secs_f64().max(1e-9);
    let mut report = DemoReport::new("readiness", SECTION);
    report.push(readiness_row("readiness", &outcome, busy.cpu));
    report.push(readiness_row("readiness_with_ticker", &ticking, busy.cpu));
    report.push(
        Measurement::new("busy_poll", busy.wall)
            .cpu(busy.cpu)
            .field("would_block_count", busy.would_block_count as f64)
            .field("ticks_while_waiting", busy.ticks_while_waiting as f64),
    );
    narrator.report(&report, None);
    narrator.timeline(
        "waiting through poll() with a ticker (asleep between wakeups)",
        &ticking.spans,
    );
    narrator.summary(
        SECTION,
        &[
            &format!(
                "Waiting {:.0} ms through poll() cost {:.3} ms of CPU: {:.2}% of the busy poll's \
                 {:.0} ms (target: under 1%).",
                outcome.wall.as_secs_f64() * 1e3,
                outcome.cpu.as_secs_f64() * 1e3,
                cpu_share * 100.0,
                busy.cpu.as_secs_f64() * 1e3
            ),
            &format!(
                "Alone, poll() returned {} time(s). With the ticker it returned {} times ({} \
                 timeouts for the ticker, {} for the socket) and still cost only {:.3} ms of CPU: \
                 the thread was free for other work and slept in between.",
                outcome.wakeups,
                ticking.wakeups,
                ticking.wakeups - ticking.readable_events,
                ticking.readable_events,
                ticking.cpu.as_secs_f64() * 1e3
            ),
            "This is the notes' point: in non-blocking mode the OS informs us when data is \
             received, so one thread can wait on many sockets (next: an echo server).",
        ],
    );
    Ok(report)
}

/// One row of the report: a wait through poll(), and its CPU time as a share of the busy poll's.
fn readiness_row(name: &str, outcome: &ReadinessOutcome, busy_cpu: Duration) -> Measurement {
    let cpu_share = outcome.cpu.as_secs_f64() / busy_cpu.as_secs_f64().max(1e-9);
    Measurement::new(name, outcome.wall)
        .cpu(outcome.cpu)
        .field("wakeups", outcome.wakeups as f64)
        .field("readable_events", outcome.readable_events as f64)
        .field("ticks_while_waiting", outcome.ticks_while_waiting as f64)
        .field("cpu_percent_of_busy_poll", cpu_share * 100.0)
}
