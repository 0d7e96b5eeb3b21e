//! Section 1.7 made visible, outside the loop: the loop emits one `tracing` event per iteration
//! (and one per poll), and these subscribers turn them into `--trace` lines ([`TraceLayer`]) and
//! counters ([`LoopStats`]). With no subscriber listening, an event costs the loop one check of a
//! flag `tracing` caches per call site.

mod stats;
mod trace;

use std::fmt;
use std::time::Duration;

use shared::narrate::plural;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

pub use stats::{Counts, LoopStats};
pub use trace::{PRINT_LIMIT, TraceLayer};

/// The `tracing` target of the loop's events.
pub const TARGET: &str = "event_loop";

/// One iteration of the loop, read back from its event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Iteration {
    /// Counted from 1 in each `block_on`.
    pub number: u64,
    /// Ids taken from the ready queue (one per wake-up, including wake-ups of finished tasks).
    pub woken: u64,
    /// Tasks polled.
    pub polled: u64,
    /// The first few tasks polled, as `--trace` prints them (`main`, `#0`, ...).
    pub first_polled: Vec<String>,
    /// Time inside tasks' `poll` (the loop cannot wait while a task runs).
    pub ran: Duration,
    /// Time blocked in the OS waiting for I/O or the next timer.
    pub waited: Duration,
    /// Readiness events the OS reported.
    pub io_events: u64,
    /// Timers that fired after the wait.
    pub timers_fired: u64,
}

impl Visit for Iteration {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "iteration" => self.number = value,
            "woken" => self.woken = value,
            "polled" => self.polled = value,
            "ran_us" => self.ran = Duration::from_micros(value),
            "waited_us" => self.waited = Duration::from_micros(value),
            "io_events" => self.io_events = value,
            "timers_fired" => self.timers_fired = value,
            _ => {}
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}

/// The task id of a `poll` event, as `--trace` prints it.
#[derive(Default)]
struct PolledTask(Option<u64>);

impl Visit for PolledTask {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "task" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}

impl fmt::Display for PolledTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) if id == usize::MAX as u64 => write!(f, "main"),
            Some(id) => write!(f, "#{id}"),
            None => write!(f, "?"),
        }
    }
}

impl fmt::Display for Iteration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let polled = plural(self.polled, "task", "tasks");
        write!(f, "iteration {}: polled {polled}", self.number)?;
        if self.polled > 0 && !self.first_polled.is_empty() {
            let more = if self.polled as usize > self.first_polled.len() {
                " ..."
            } else {
                ""
            };
            write!(f, " ({}{more})", self.first_polled.join(" "))?;
        }
        write!(
            f,
            " for {} | waited {} | {}, {} fired",
            ms(self.ran),
            ms(self.waited),
            plural(self.io_events, "I/O event", "I/O events"),
            plural(self.timers_fired, "timer", "timers")
        )
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", shared::timing::ms(duration))
}

/// A subscriber that feeds the loop's events to `stats` and, if given, to a `--trace` printer,
/// and the spans opened meanwhile to [`shared::trace::SpanLayer`]: it replaces the global
/// subscriber on the loop's thread only, and a demo's timeline must still see that thread's
/// spans (other threads keep the global one, which records them too). Without a printer the per-poll events (level TRACE) are off for the whole subscriber, so
/// `tracing` skips them at their call site. (One filter for the whole subscriber, not one per
/// layer: per-layer filters misjudge call sites when tests run several subscribers at once.)
pub fn subscriber(stats: &LoopStats, trace: Option<TraceLayer>) -> impl Subscriber + Send + Sync {
    let level = match trace {
        Some(_) => LevelFilter::TRACE,
        None => LevelFilter::DEBUG,
    };
    tracing_subscriber::registry()
        .with(level)
        .with(shared::trace::SpanLayer)
        .with(stats.clone())
        .with(trace)
}

/// Counts what the loops on this thread do until the guard is dropped, and prints one line per
/// iteration to standard error when `trace` is on.
pub fn watch(trace: bool) -> (LoopStats, tracing::subscriber::DefaultGuard) {
    let stats = LoopStats::default();
    let subscriber = subscriber(&stats, trace.then(TraceLayer::stderr));
    (stats, tracing::subscriber::set_default(subscriber))
}

/// Time the calling thread has spent ready to run but waiting for a CPU, from the kernel's
/// scheduler statistics (`/proc/thread-self/schedstat`, second field, in ns).
pub fn run_queue_wait() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let waited = stat
        .split_whitespace()
        .nth(1)
        .and_then(|ns| ns.parse().ok());
    std::time::Duration::from_nanos(waited.unwrap_or(0))
}
