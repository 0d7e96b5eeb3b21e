//! Section 1.6: a stand-in for "other work the program could do while it waits".
//!
//! A ticker wants to tick every few milliseconds. On the thread that waits for a socket it can
//! only tick when that thread gets control back; on a thread of its own it ticks whatever the
//! socket does. Counting the ticks that fall inside a wait shows whether the wait halted the thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shared::legacy::{SpanKind, SpanRecorder};

/// Ticks at most once per interval, when asked.
#[derive(Debug)]
pub struct Ticker {
    every: Duration,
    next: Instant,
    ticks: Vec<Instant>,
}

impl Ticker {
    /// A ticker whose first tick is due now.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            next: Instant::now(),
            ticks: Vec::new(),
        }
    }

    /// Ticks if a tick is due; records it as a (tiny) span on row `task`. Returns true if it ticked.
    pub fn tick_if_due(&mut self, recorder: &SpanRecorder, task: &str) -> bool {
        let now = Instant::now();
        if now < self.next {
            return false;
        }
        self.ticks.push(now);
        self.next = now + self.every;
        recorder.record(task, SpanKind::Cpu, now, Instant::now());
        true
    }

    /// How long until the next tick is due (zero if it is due already).
    pub fn until_next(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Every tick so far.
    pub fn ticks(&self) -> &[Instant] {
        &self.ticks
    }
}

/// Ticks that happened strictly between `from` and `to`.
pub fn ticks_between(ticks: &[Instant], from: Instant, to: Instant) -> u64 {
    ticks.iter().filter(|&&t| t > from && t < to).count() as u64
}

/// Ticks for `lead` before a wait and `lead` after it, around `wait`, on the calling thread.
/// Between the ticks it sleeps a little (the ticker has nothing else to do).
pub fn tick_for(ticker: &mut Ticker, recorder: &SpanRecorder, task: &str, lead: Duration) {
    let until = Instant::now() + lead;
    while Instant::now() < until {
        ticker.tick_if_due(recorder, task);
        std::thread::sleep(
            ticker
                .until_next()
                .min(until.saturating_duration_since(Instant::now())),
        );
    }
}

/// A ticker on a thread of its own, ticking until [`TickerThread::stop`].
pub struct TickerThread {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Instant>>,
}

impl TickerThread {
    /// Starts ticking every `every` on a new thread, recording on row `task`.
    pub fn start(
        every: Duration,
        recorder: Arc<SpanRecorder>,
        task: &str,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let task = task.to_string();
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("ticker".into())
                .spawn(move || {
                    let mut ticker = Ticker::new(every);
                    while !stop.load(Ordering::SeqCst) {
                        ticker.tick_if_due(&recorder, &task);
                        std::thread::sleep(ticker.until_next());
                    }
                    ticker.ticks
                })?
        };
        Ok(Self { stop, thread })
    }

    /// Stops the thread and returns its ticks.
    pub fn stop(self) -> Vec<Instant> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}
