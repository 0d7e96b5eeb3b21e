//! Recording `tracing` spans with the CPU time behind them, for every timeline and most tests
//! (sections 1.1 to 1.7): [`SpanLayer`] keeps each stretch a thread spent inside a span ([`Run`]),
//! and one [`Recording`] at a time owns every span opened meanwhile. The crate's README tells how.
//!
//! ```
//! use tracing::info_span;
//! // A child process prints its spans as JSON lines; the parent reads them onto its own clock.
//! let ((), spans) = shared::trace::record(|| info_span!("child work").in_scope(|| ()));
//! let child_output = format!("hello\n{}", shared::trace::to_json_lines(&spans));
//! let (read, other) = shared::trace::from_json_lines(&child_output);
//! assert_eq!((read.len(), read[0].label.as_str(), other), (1, "child work", vec!["hello"]));
//! ```

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::span::{Attributes, Id};
use tracing::{Subscriber, field};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use crate::timing::{ThreadUsage, os_thread_id};

/// One recorded span: a task, a request, a step of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The span's name as written in the code (`request`).
    pub name: String,
    /// The name followed by its fields' values (`request 3`): one timeline row per label.
    pub label: String,
    /// The process that recorded it.
    pub pid: u32,
    /// The OS thread it was opened on (the `TID` column of `ps -L` on Linux).
    pub thread_id: u64,
    /// When it opened, on the clock every recording in this process shares.
    pub opened: Duration,
    /// When it closed, on the same clock.
    pub closed: Duration,
    /// Each time a thread entered the span and left it again.
    pub runs: Vec<Run>,
    /// What the span waited for when not running, where the CPU cannot tell (`lock`).
    pub waiting_for: Option<String>,
}

/// One stretch a thread spent inside a span (enter to exit), with its readings at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The OS thread that entered the span.
    pub thread_id: u64,
    /// When it entered.
    pub start: Duration,
    /// When it left.
    pub end: Duration,
    /// The thread's CPU time and context switches when it entered.
    pub at_start: ThreadUsage,
    /// The same when it left.
    pub at_end: ThreadUsage,
}

impl Run {
    /// CPU time the thread used inside the span during this run.
    pub fn cpu(&self) -> Duration {
        self.at_end.cpu.saturating_sub(self.at_start.cpu)
    }

    /// True when the thread spent at least half of the run on a CPU.
    pub fn was_running(&self) -> bool {
        self.cpu() * 2 >= self.end.saturating_sub(self.start)
    }
}

impl Span {
    /// Time from open to close.
    pub fn wall(&self) -> Duration {
        self.closed.saturating_sub(self.opened)
    }

    /// CPU time used inside the span, on every thread that entered it.
    pub fn cpu(&self) -> Duration {
        self.runs.iter().map(Run::cpu).sum()
    }

    /// When a thread first entered the span (an async task's first poll).
    pub fn first_entered(&self) -> Option<Duration> {
        self.runs.first().map(|run| run.start)
    }

    /// True when the two spans were open at some common instant (touching ends do not count).
    pub fn overlaps(&self, other: &Span) -> bool {
        self.opened < other.closed && other.opened < self.closed
    }

    /// True when `other` opened and closed while this span was open.
    pub fn contains(&self, other: &Span) -> bool {
        self.opened <= other.opened && other.closed <= self.closed
    }
}

/// How many distinct OS threads opened or entered these spans.
pub fn threads_used(spans: &[Span]) -> usize {
    let mut threads = std::collections::HashSet::new();
    for s in spans {
        threads.insert((s.pid, s.thread_id));
        threads.extend(s.runs.iter().map(|run| (s.pid, run.thread_id)));
    }
    threads.len()
}

/// OS context switches of the threads that ran these spans, each from the first time it entered
/// one to the last time it left one: a thread is often preempted just between two steps.
pub fn os_context_switches(spans: &[Span]) -> u64 {
    let mut per_thread = std::collections::HashMap::new();
    for span in spans {
        for run in &span.runs {
            let (first, last) = (run.at_start.context_switches, run.at_end.context_switches);
            let thread = (span.pid, run.thread_id);
            let (low, high) = per_thread.entry(thread).or_insert((first, last));
            (*low, *high) = ((*low).min(first), (*high).max(last));
        }
    }
    per_thread.values().map(|(low, high)| high - low).sum()
}

/// The spans with this name, in the order they opened.
pub fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|span| span.name == name).collect()
}

/// The layer that records spans into the active [`Recording`] (install it yourself to combine it).
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanLayer;

/// What the layer keeps in a span's extensions while it is open: the span so far.
struct Open {
    sink: Arc<Sink>,
    span: Span,
    /// Threads inside the span right now: (thread, when it entered, its usage then).
    inside: Vec<(u64, Duration, ThreadUsage)>,
}

impl<S> Layer<S> for SpanLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let (Some(sink), Some(span)) = (lock(&ACTIVE).clone(), ctx.span(id)) else {
            return;
        };
        let name = attrs.metadata().name().to_string();
        let mut fields = Fields(vec![name.clone()], None);
        attrs.record(&mut fields);
        let opened = now();
        let recorded = Span {
            name,
            label: fields.0.join(" "),
            pid: std::process::id(),
            thread_id: os_thread_id(),
            opened,
            closed: opened,
            runs: Vec::new(),
            waiting_for: fields.1,
        };
        span.extensions_mut().insert(Open {
            sink,
            span: recorded,
            inside: Vec::new(),
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(open) = span.extensions_mut().get_mut::<Open>() {
            // Read the CPU clock before the wall clock, and after it on exit: the run's CPU
            // time can then never exceed its wall time by the cost of the readings.
            let usage = ThreadUsage::now();
            open.inside.push((os_thread_id(), now(), usage));
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(open) = span.extensions_mut().get_mut::<Open>() {
            let (end, at_end, thread_id) = (now(), ThreadUsage::now(), os_thread_id());
            if let Some(at) = open.inside.iter().rposition(|(t, _, _)| *t == thread_id) {
                let (_, start, at_start) = open.inside.swap_remove(at);
                open.span.runs.push(Run {
                    thread_id,
                    start,
                    end,
                    at_start,
                    at_end,
                });
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        if let Some(mut open) = span.extensions_mut().remove::<Open>() {
            open.span.closed = now();
            for hook in lock(&open.sink.on_close).iter() {
                hook(&open.span);
            }
            lock(&open.sink.spans).push(open.span);
        }
    }
}

/// A span's field values in order (`.0`), and `waiting_for` set aside (`.1`).
struct Fields(Vec<String>, Option<String>);

impl field::Visit for Fields {
    fn record_str(&mut self, field: &field::Field, value: &str) {
        match field.name() {
            "waiting_for" => self.1 = Some(value.to_string()),
            _ => self.0.push(value.to_string()),
        }
    }

    fn record_debug(&mut self, field: &field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Where the spans of one recording go.
#[derive(Default)]
struct Sink {
    spans: Mutex<Vec<Span>>,
    on_close: Mutex<Vec<CloseHook>>,
}

type CloseHook = Box<dyn Fn(&Span) + Send + Sync>;

/// The active recording's sink (read at every span's opening; a mutex is cheap enough).
static ACTIVE: Mutex<Option<Arc<Sink>>> = Mutex::new(None);
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A panicking test must not take every later recording down with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The instant every recording counts from, also on CLOCK_MONOTONIC in ns: `Instant` and Python's
/// `time.monotonic_ns()` both read that clock on Linux, so it lines up parents and children.
fn epoch() -> (Instant, u128) {
    static EPOCH: OnceLock<(Instant, u128)> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        let ns = crate::timing::read_clock(libc::CLOCK_MONOTONIC).as_nanos();
        (Instant::now(), ns)
    })
}

/// Now, on the clock of this process's recordings (for checking where a child's spans landed).
pub fn now() -> Duration {
    epoch().0.elapsed()
}

/// A child's spans as JSON lines, each with the child's clock for [`from_json_lines`].
pub fn to_json_lines(spans: &[Span]) -> String {
    let clock = epoch().1;
    let line = |span: &Span| serde_json::json!({ "clock": clock, "span": span }).to_string() + "\n";
    spans.iter().map(line).collect()
}

/// The spans of [`to_json_lines`], moved onto this process's clock, and the other lines.
pub fn from_json_lines(text: &str) -> (Vec<Span>, Vec<&str>) {
    let ours = epoch().1;
    let (mut spans, mut other) = (Vec::new(), Vec::new());
    for line in text.lines() {
        match serde_json::from_str::<ChildSpan>(line) {
            Ok(ChildSpan { clock, mut span }) => {
                // Both count from an instant: their difference on the monotonic clock moves it.
                let shift = |at: Duration| {
                    let nanos = (clock + at.as_nanos()).saturating_sub(ours);
                    Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
                };
                (span.opened, span.closed) = (shift(span.opened), shift(span.closed));
                for run in &mut span.runs {
                    (run.start, run.end) = (shift(run.start), shift(run.end));
                }
                spans.push(span);
            }
            Err(_) => other.push(line),
        }
    }
    (spans, other)
}

#[derive(Deserialize)]
struct ChildSpan {
    /// The child's origin on the monotonic clock in ns (0 for Python's `time.monotonic_ns()`).
    clock: u128,
    span: Span,
}

/// Makes [`SpanLayer`] the process's global subscriber, unless one is set already.
pub fn install() {
    epoch(); // the clock starts now: a child's spans from before the first recording land after it
    if !tracing::dispatcher::has_been_set() {
        let subscriber = tracing_subscriber::registry().with(SpanLayer);
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
}

/// The spans opened anywhere in the process until [`finish`](Self::finish); one at a time.
pub struct Recording {
    sink: Arc<Sink>,
    /// Held until dropped: the other recordings wait their turn.
    _turn: MutexGuard<'static, ()>,
}

impl Recording {
    /// Starts recording (installing the layer first if needed).
    pub fn start() -> Self {
        install();
        let _turn = lock(&ONE_AT_A_TIME);
        let sink = Arc::new(Sink::default());
        *lock(&ACTIVE) = Some(Arc::clone(&sink));
        Self { sink, _turn }
    }

    /// Calls `hook` with every span of this recording as it closes (progress bars count them).
    pub fn on_close(&self, hook: impl Fn(&Span) + Send + Sync + 'static) {
        lock(&self.sink.on_close).push(Box::new(hook));
    }

    /// Stops; the spans that closed, in opening order (one still open, never awaited, is left out).
    pub fn finish(self) -> Vec<Span> {
        let mut spans = std::mem::take(&mut *lock(&self.sink.spans));
        spans.sort_by_key(|span| span.opened);
        spans
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        // At the end of `finish`, an early return or a panic: the next recording finds it empty.
        *lock(&ACTIVE) = None;
    }
}

/// Records what `work` does and returns its value with the spans it opened.
pub fn record<T>(work: impl FnOnce() -> T) -> (T, Vec<Span>) {
    let recording = Recording::start();
    let value = work();
    (value, recording.finish())
}
