//! Section 1.7 in numbers: counters of the loop's iterations, built from its `tracing` events.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::{Iteration, TARGET};

/// What the loop did, summed over its iterations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Turns of the loop: run the ready tasks, wait for I/O or a timer, wake what became ready.
    pub iterations: u64,
    /// Ids taken from the ready queue (one per wake-up).
    pub wakeups: u64,
    /// Calls to a task's (or the main future's) `poll`.
    pub polls: u64,
    /// Readiness events the OS reported for our sockets.
    pub io_events: u64,
    /// Timers whose deadline passed and whose task was woken.
    pub timers_fired: u64,
    /// Tasks that panicked (each ended alone; its join handle got the error).
    pub panicked: u64,
    /// Time spent blocked in the OS, all iterations together.
    pub waited: Duration,
    /// The iteration that spent longest inside tasks.
    pub longest: Iteration,
}

/// A `tracing` layer that sums the loop's iteration events. Clones share the counts.
///
/// ```
/// use ch01_event_loop::observe::{LoopStats, subscriber};
/// let stats = LoopStats::default();
/// let _watching = tracing::subscriber::set_default(subscriber(&stats, None));
/// ch01_event_loop::event_loop::block_on(async {});
/// assert_eq!((stats.get().iterations, stats.get().polls), (1, 1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LoopStats(Arc<Mutex<Counts>>);

impl LoopStats {
    /// The counts so far.
    pub fn get(&self) -> Counts {
        self.counts().clone()
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<S: Subscriber> Layer<S> for LoopStats {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        if *event.metadata().level() == Level::WARN {
            self.counts().panicked += 1;
            return;
        }
        if event.metadata().fields().field("iteration").is_none() {
            return;
        }
        let mut iteration = Iteration::default();
        event.record(&mut iteration);
        let mut counts = self.counts();
        counts.iterations += 1;
        counts.wakeups += iteration.woken;
        counts.polls += iteration.polled;
        counts.io_events += iteration.io_events;
        counts.timers_fired += iteration.timers_fired;
        counts.waited += iteration.waited;
        if iteration.ran >= counts.longest.ran {
            counts.longest = iteration;
        }
    }
}
