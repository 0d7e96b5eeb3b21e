//! Section 1.7 made visible, outside the loop: the loop emits one `tracing` event per iteration
//! (and one per poll), and [`LoopStats`], a `tracing-subscriber` layer, sums them into counters
//! and, with `--trace`, prints one line per iteration:
//!
//! ```text
//! [loop] iteration 2: polled 5 tasks (#0 #1 #2 #3 #4) for 0.4 ms | waited 0.0 ms | 5 I/O events, 0 timers fired
//! ```
//!
//! With no subscriber listening, an event costs the loop one check of a flag `tracing` caches per
//! call site.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use shared::narrate::plural;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The `tracing` target of the loop's events.
pub const TARGET: &str = "event_loop";
/// At most this many lines are printed, so a benchmark cannot flood the terminal.
pub const PRINT_LIMIT: u64 = 200;
/// Task ids listed per printed line; `...` stands for the rest.
const IDS_SHOWN: usize = 6;

/// One iteration of the loop, read back from its event (its fields as in [`Counts`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Iteration {
    /// Counted from 1 in each `block_on`.
    number: u64,
    /// Ids taken from the ready queue (one per wake-up, including wake-ups of finished tasks).
    woken: u64,
    polled: u64,
    /// The first few tasks polled, as `--trace` prints them (`main`, `#0`, ..., then `...`).
    first_polled: Vec<String>,
    /// Time inside tasks' `poll` (the loop cannot wait while a task runs).
    pub ran: Duration,
    /// Time blocked in the OS waiting for I/O or the next timer.
    waited: Duration,
    io_events: u64,
    timers_fired: u64,
    /// The task of a `poll` event.
    task: Option<u64>,
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
            "task" => self.task = Some(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}

impl fmt::Display for Iteration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let polled = plural(self.polled, "task", "tasks");
        write!(f, "iteration {}: polled {polled}", self.number)?;
        if !self.first_polled.is_empty() {
            write!(f, " ({})", self.first_polled.join(" "))?;
        }
        let ms = |duration: Duration| format!("{:.1} ms", shared::timing::ms(duration));
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

/// What the loop did, summed over its iterations (a report shows the first four).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Counts {
    /// Turns of the loop: run the ready tasks, wait for I/O or a timer, wake what became ready.
    pub iterations: u64,
    /// Calls to a task's (or the main future's) `poll`.
    pub polls: u64,
    /// Ids taken from the ready queue (one per wake-up).
    pub wakeups: u64,
    /// Readiness events the OS reported for our sockets.
    pub io_events: u64,
    /// Timers whose deadline passed and whose task was woken.
    #[serde(skip)]
    pub timers_fired: u64,
    /// Tasks that panicked (each ended alone; its join handle got the error).
    #[serde(skip)]
    pub panicked: u64,
    /// Time spent blocked in the OS, all iterations together.
    #[serde(skip)]
    pub waited: Duration,
    /// The iteration that spent longest inside tasks.
    #[serde(skip)]
    pub longest: Iteration,
}

/// A `tracing` layer that sums the loop's iteration events and, if made with
/// [`printing_to`](Self::printing_to), prints them. Clones share the counts.
///
/// ```
/// use ch01_event_loop::observe::{LoopStats, subscriber};
/// let stats = LoopStats::default();
/// let _watching = tracing::subscriber::set_default(subscriber(&stats));
/// ch01_event_loop::event_loop::block_on(async {});
/// assert_eq!((stats.get().iterations, stats.get().polls), (1, 1));
/// ```
#[derive(Clone, Default)]
pub struct LoopStats(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    counts: Counts,
    /// Where `--trace` lines go, with the tasks polled so far in this iteration.
    printer: Option<(Box<dyn Write + Send>, Vec<String>)>,
}

impl LoopStats {
    /// Counts, and prints one line per iteration to `out` (a test passes a buffer).
    pub fn printing_to(out: Box<dyn Write + Send>) -> Self {
        let stats = Self::default();
        stats.state().printer = Some((out, Vec::new()));
        stats
    }

    /// The counts so far.
    pub fn get(&self) -> Counts {
        self.state().counts.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S: Subscriber> Layer<S> for LoopStats {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut iteration = Iteration::default();
        event.record(&mut iteration);
        let mut state = self.state();
        let State { counts, printer } = &mut *state;
        match *event.metadata().level() {
            Level::WARN => counts.panicked += 1,
            Level::TRACE => {
                if let Some((_, polled)) = printer.as_mut().filter(|(_, p)| p.len() <= IDS_SHOWN) {
                    polled.push(match iteration.task.unwrap_or_default() {
                        _ if polled.len() == IDS_SHOWN => "...".into(),
                        id if id == usize::MAX as u64 => "main".into(),
                        id => format!("#{id}"),
                    });
                }
            }
            Level::DEBUG => {
                counts.iterations += 1;
                counts.wakeups += iteration.woken;
                counts.polls += iteration.polled;
                counts.io_events += iteration.io_events;
                counts.timers_fired += iteration.timers_fired;
                counts.waited += iteration.waited;
                if let Some((out, polled)) = printer {
                    iteration.first_polled = std::mem::take(polled);
                    // A closed standard error must not stop the loop: printing is best effort.
                    let _ = match counts.iterations {
                        n if n <= PRINT_LIMIT => writeln!(out, "[loop] {iteration}"),
                        n if n > PRINT_LIMIT + 1 => Ok(()),
                        _ => writeln!(out, "[loop] ... no more lines (limit {PRINT_LIMIT})"),
                    };
                }
                if iteration.ran >= counts.longest.ran {
                    counts.longest = iteration;
                }
            }
            _ => {}
        }
    }
}

/// A subscriber that feeds the loop's events to `stats`, and the spans opened meanwhile to
/// [`shared::trace::SpanLayer`]: it replaces the global subscriber on the loop's thread only, and
/// a demo's timeline must still see that thread's spans (other threads keep the global one, which
/// records them too). Without a printer the per-poll events (level TRACE) are off, so `tracing`
/// skips them at their call site. (One filter for the whole subscriber, not one per layer:
/// per-layer filters misjudge call sites when tests run several subscribers at once.)
pub fn subscriber(stats: &LoopStats) -> impl Subscriber + Send + Sync {
    let level = match stats.state().printer {
        Some(_) => LevelFilter::TRACE,
        None => LevelFilter::DEBUG,
    };
    tracing_subscriber::registry()
        .with(level)
        .with(shared::trace::SpanLayer)
        .with(stats.clone())
}

/// Runs `work` with what the loops on this thread do counted, printing one line per iteration
/// to standard error when `trace` is on.
pub fn counted<R>(trace: bool, work: impl FnOnce() -> R) -> (R, Counts) {
    let stats = match trace {
        true => LoopStats::printing_to(Box::new(std::io::stderr())),
        false => LoopStats::default(),
    };
    let result = tracing::subscriber::with_default(subscriber(&stats), work);
    (result, stats.get())
}

/// A thread's time on a CPU and time ready to run but waiting for one, from the kernel's
/// scheduler statistics (`/proc/<thread>/schedstat`, in ns; zero where there are none). For a
/// process id, its main thread's.
pub fn schedstat(thread: &str) -> (Duration, Duration) {
    let stat = std::fs::read_to_string(format!("/proc/{thread}/schedstat")).unwrap_or_default();
    let mut fields = stat.split_whitespace().map(|ns| ns.parse().unwrap_or(0));
    let mut next = || Duration::from_nanos(fields.next().unwrap_or(0));
    (next(), next())
}
