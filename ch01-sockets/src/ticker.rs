//! Section 1.6: a stand-in for "other work the program could do while it waits".
//!
//! A ticker wants to tick every few milliseconds; each tick is a tiny `ticker` span. On the
//! thread that waits for a socket it can only tick when that thread gets control back; on a
//! thread of its own it ticks whatever the socket does. Which ticks fall inside a wait (the
//! recorded spans say) shows whether the wait halted the thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::info_span;

/// The span every tick records: `ticker main`, `ticker other thread`.
pub const TICK_SPAN: &str = "ticker";

/// Ticks at most once per interval, when asked.
#[derive(Debug)]
pub struct Ticker {
    every: Duration,
    next: Instant,
    on: &'static str,
}

impl Ticker {
    /// A ticker whose first tick is due now; its spans are labelled `ticker <on>`.
    pub fn new(every: Duration, on: &'static str) -> Self {
        Self {
            every,
            next: Instant::now(),
            on,
        }
    }

    /// Ticks if a tick is due (a tiny span of "other work"). Returns true if it ticked.
    pub fn tick_if_due(&mut self) -> bool {
        let now = Instant::now();
        if now < self.next {
            return false;
        }
        self.next = now + self.every;
        info_span!("ticker", on = self.on).in_scope(|| std::hint::black_box(now));
        true
    }

    /// How long until the next tick is due (zero if it is due already).
    pub fn until_next(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Ticks for `how_long` on the calling thread, sleeping between ticks (it has nothing else
    /// to do).
    pub fn tick_for(&mut self, how_long: Duration) {
        let until = Instant::now() + how_long;
        while Instant::now() < until {
            self.tick_if_due();
            std::thread::sleep(
                self.until_next()
                    .min(until.saturating_duration_since(Instant::now())),
            );
        }
    }
}

/// A ticker on a thread of its own, ticking until [`TickerThread::stop`].
pub struct TickerThread {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl TickerThread {
    /// Starts ticking every `every` on a new thread; its spans are labelled `ticker <on>`.
    pub fn start(every: Duration, on: &'static str) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("ticker".into())
                .spawn(move || {
                    let mut ticker = Ticker::new(every, on);
                    while !stop.load(Ordering::SeqCst) {
                        ticker.tick_if_due();
                        std::thread::sleep(ticker.until_next());
                    }
                })?
        };
        Ok(Self { stop, thread })
    }

    /// Stops the thread and waits for it.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}
