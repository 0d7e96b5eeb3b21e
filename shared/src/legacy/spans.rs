//! Who ran, on which thread, from when to when, doing what: the raw material of every timeline
//! and of most tests in this workspace (sections 1.1 to 1.7).
//!
//! Claims like "these requests overlapped" or "these two threads never held the lock at the same
//! time" are claims about intervals. A [`SpanRecorder`] collects those intervals cheaply from
//! threads, async tasks and child processes, so a test can check the claim and a
//! [timeline](crate::legacy::timeline) can draw it.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What a task was doing during a span. Each kind gets its own glyph in the timeline.
///
/// ```
/// use shared::legacy::spans::SpanKind;
/// assert_eq!(SpanKind::Cpu.describe(), "running on a CPU");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// Executing instructions on a CPU.
    Cpu,
    /// Waiting for I/O (a socket, a timer, a child process) without using the CPU.
    WaitIo,
    /// Waiting to acquire a lock another thread holds.
    WaitLock,
    /// Nothing to do.
    Idle,
}

impl SpanKind {
    /// Every kind, in the order the timeline legend lists them.
    ///
    /// ```
    /// assert_eq!(shared::legacy::spans::SpanKind::ALL.len(), 4);
    /// ```
    pub const ALL: [SpanKind; 4] = [
        SpanKind::Cpu,
        SpanKind::WaitIo,
        SpanKind::WaitLock,
        SpanKind::Idle,
    ];

    /// The kind in plain words, for legends and narration.
    ///
    /// ```
    /// assert_eq!(shared::legacy::spans::SpanKind::WaitIo.describe(), "waiting on I/O");
    /// ```
    pub fn describe(self) -> &'static str {
        match self {
            SpanKind::Cpu => "running on a CPU",
            SpanKind::WaitIo => "waiting on I/O",
            SpanKind::WaitLock => "waiting for a lock",
            SpanKind::Idle => "idle",
        }
    }
}

/// One recorded interval. Times are offsets from the recorder's origin.
///
/// ```
/// use std::time::Duration;
/// use shared::legacy::spans::{Span, SpanKind};
/// let a = Span::at("a", SpanKind::Cpu, Duration::from_millis(0), Duration::from_millis(10));
/// let b = Span::at("b", SpanKind::Cpu, Duration::from_millis(5), Duration::from_millis(15));
/// assert!(a.overlaps(&b));
/// assert_eq!(a.duration(), Duration::from_millis(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// The task, thread or request this span belongs to: one timeline row per label.
    pub task: String,
    /// Name of the OS thread that recorded it (`main`, `worker-1`, or `unnamed`).
    pub thread_name: String,
    /// OS thread id (the `TID` column of `ps -L` on Linux).
    pub thread_id: u64,
    /// Process id of the recording process.
    pub pid: u32,
    /// What the task was doing.
    pub kind: SpanKind,
    /// Start, as an offset from the recorder's origin.
    pub start: Duration,
    /// End, as an offset from the recorder's origin; never before `start`.
    pub end: Duration,
}

impl Span {
    /// A span at fixed offsets, attributed to the calling thread and process. Used for hand-made
    /// spans in tests and examples.
    ///
    /// ```
    /// use std::time::Duration;
    /// let span = shared::legacy::spans::Span::at("t", shared::legacy::spans::SpanKind::Idle, Duration::ZERO, Duration::ZERO);
    /// assert_eq!(span.pid, std::process::id());
    /// ```
    pub fn at(task: impl Into<String>, kind: SpanKind, start: Duration, end: Duration) -> Self {
        let (thread_name, thread_id) = current_thread();
        Self {
            task: task.into(),
            thread_name,
            thread_id,
            pid: std::process::id(),
            kind,
            start,
            end: end.max(start),
        }
    }

    /// The same span, attributed to another thread (for hand-made spans, so that tests do not
    /// depend on the thread they run on).
    ///
    /// ```
    /// use std::time::Duration;
    /// use shared::legacy::spans::{Span, SpanKind};
    /// let span = Span::at("t", SpanKind::Cpu, Duration::ZERO, Duration::ZERO).on_thread("worker-1", 7, 100);
    /// assert_eq!((span.thread_name.as_str(), span.thread_id, span.pid), ("worker-1", 7, 100));
    /// ```
    pub fn on_thread(mut self, thread_name: impl Into<String>, thread_id: u64, pid: u32) -> Self {
        self.thread_name = thread_name.into();
        self.thread_id = thread_id;
        self.pid = pid;
        self
    }

    /// How long the span lasted.
    ///
    /// ```
    /// use std::time::Duration;
    /// let span = shared::legacy::spans::Span::at("t", shared::legacy::spans::SpanKind::Cpu, Duration::from_secs(1), Duration::from_secs(3));
    /// assert_eq!(span.duration(), Duration::from_secs(2));
    /// ```
    pub fn duration(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }

    /// True when the two spans share some instant of positive length (touching ends do not count).
    ///
    /// ```
    /// use std::time::Duration;
    /// use shared::legacy::spans::{Span, SpanKind};
    /// let ms = Duration::from_millis;
    /// let a = Span::at("a", SpanKind::Cpu, ms(0), ms(10));
    /// assert!(!a.overlaps(&Span::at("b", SpanKind::Cpu, ms(10), ms(20))));
    /// ```
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// True when `other` lies entirely within this span.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shared::legacy::spans::{Span, SpanKind};
    /// let ms = Duration::from_millis;
    /// let outer = Span::at("outer", SpanKind::WaitIo, ms(0), ms(100));
    /// assert!(outer.contains(&Span::at("inner", SpanKind::Cpu, ms(10), ms(20))));
    /// ```
    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// Collects [`Span`]s from any number of threads, tasks and child processes.
///
/// It is `Send + Sync`: share it with `Arc` or by reference (scoped threads). Recording takes one
/// short lock and one push, cheap next to the work being recorded.
///
/// ```
/// use shared::legacy::spans::{SpanKind, SpanRecorder};
/// let recorder = SpanRecorder::new();
/// let answer = recorder.in_span("compute", SpanKind::Cpu, || 6 * 7);
/// assert_eq!(answer, 42);
/// assert_eq!(recorder.spans()[0].task, "compute");
/// ```
#[derive(Debug)]
pub struct SpanRecorder {
    origin: Instant,
    origin_unix_ns: u64,
    spans: Mutex<Vec<Span>>,
}

impl Default for SpanRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanRecorder {
    /// A recorder whose time zero is now.
    ///
    /// ```
    /// assert!(shared::legacy::spans::SpanRecorder::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            origin_unix_ns: unix_ns(SystemTime::now()),
            spans: Mutex::new(Vec::new()),
        }
    }

    /// The instant all offsets are measured from.
    ///
    /// ```
    /// let recorder = shared::legacy::spans::SpanRecorder::new();
    /// assert!(recorder.origin() <= std::time::Instant::now());
    /// ```
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The current offset from the origin.
    ///
    /// ```
    /// let recorder = shared::legacy::spans::SpanRecorder::new();
    /// assert!(recorder.now() < std::time::Duration::from_secs(60));
    /// ```
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Records a span between two instants, on behalf of the calling thread.
    ///
    /// ```
    /// use shared::legacy::spans::{SpanKind, SpanRecorder};
    /// let recorder = SpanRecorder::new();
    /// let start = std::time::Instant::now();
    /// recorder.record("request 1", SpanKind::WaitIo, start, std::time::Instant::now());
    /// assert_eq!(recorder.len(), 1);
    /// ```
    pub fn record(&self, task: impl Into<String>, kind: SpanKind, start: Instant, end: Instant) {
        let start = start.saturating_duration_since(self.origin);
        let end = end.saturating_duration_since(self.origin);
        self.push(Span::at(task, kind, start, end));
    }

    /// Adds a finished span as it is (hand-made, or received from elsewhere).
    ///
    /// ```
    /// use std::time::Duration;
    /// use shared::legacy::spans::{Span, SpanKind, SpanRecorder};
    /// let recorder = SpanRecorder::new();
    /// recorder.push(Span::at("x", SpanKind::Idle, Duration::ZERO, Duration::from_millis(1)));
    /// assert_eq!(recorder.len(), 1);
    /// ```
    pub fn push(&self, span: Span) {
        self.lock().push(span);
    }

    /// Runs `work` and records it as one span of `kind`.
    ///
    /// ```
    /// use shared::legacy::spans::{SpanKind, SpanRecorder};
    /// let recorder = SpanRecorder::new();
    /// recorder.in_span("nap", SpanKind::Idle, || std::thread::sleep(std::time::Duration::from_millis(2)));
    /// assert!(recorder.spans()[0].duration() >= std::time::Duration::from_millis(2));
    /// ```
    pub fn in_span<T>(
        &self,
        task: impl Into<String>,
        kind: SpanKind,
        work: impl FnOnce() -> T,
    ) -> T {
        let start = Instant::now();
        let value = work();
        self.record(task, kind, start, Instant::now());
        value
    }

    /// Awaits `work` and records it as one span of `kind`, attributed to the thread that finished
    /// it.
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// use shared::legacy::spans::{SpanKind, SpanRecorder};
    /// let recorder = SpanRecorder::new();
    /// let value = recorder.in_span_async("wait", SpanKind::WaitIo, async { 1 }).await;
    /// assert_eq!((value, recorder.len()), (1, 1));
    /// # });
    /// ```
    pub async fn in_span_async<T>(
        &self,
        task: impl Into<String>,
        kind: SpanKind,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let task = task.into();
        let start = Instant::now();
        let value = work.await;
        self.record(task, kind, start, Instant::now());
        value
    }

    /// Starts a span that is recorded when the returned guard is dropped (or [`SpanGuard::end`]ed).
    ///
    /// ```
    /// use shared::legacy::spans::{SpanKind, SpanRecorder};
    /// let recorder = SpanRecorder::new();
    /// {
    ///     let _holding = recorder.start("lock held", SpanKind::Cpu);
    /// }
    /// assert_eq!(recorder.len(), 1);
    /// ```
    pub fn start(&self, task: impl Into<String>, kind: SpanKind) -> SpanGuard<'_> {
        SpanGuard {
            recorder: self,
            task: Some(task.into()),
            kind,
            start: Instant::now(),
        }
    }

    /// Every span recorded so far, sorted by start time (ties keep their recording order).
    ///
    /// ```
    /// let recorder = shared::legacy::spans::SpanRecorder::new();
    /// assert!(recorder.spans().is_empty());
    /// ```
    pub fn spans(&self) -> Vec<Span> {
        let mut spans = self.lock().clone();
        spans.sort_by_key(|span| span.start);
        spans
    }

    /// The spans of one task label, sorted by start.
    ///
    /// ```
    /// use shared::legacy::spans::{SpanKind, SpanRecorder};
    /// let recorder = SpanRecorder::new();
    /// recorder.in_span("a", SpanKind::Cpu, || ());
    /// recorder.in_span("b", SpanKind::Cpu, || ());
    /// assert_eq!(recorder.spans_of("a").len(), 1);
    /// ```
    pub fn spans_of(&self, task: &str) -> Vec<Span> {
        self.spans()
            .into_iter()
            .filter(|span| span.task == task)
            .collect()
    }

    /// How many spans were recorded.
    ///
    /// ```
    /// assert_eq!(shared::legacy::spans::SpanRecorder::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing was recorded.
    ///
    /// ```
    /// assert!(shared::legacy::spans::SpanRecorder::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every span (the origin stays).
    ///
    /// ```
    /// use shared::legacy::spans::{SpanKind, SpanRecorder};
    /// let recorder = SpanRecorder::new();
    /// recorder.in_span("a", SpanKind::Cpu, || ());
    /// recorder.clear();
    /// assert!(recorder.is_empty());
    /// ```
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The spans as JSON lines with absolute (Unix epoch) times, for a child process to print on
    /// standard output so that its parent can [merge](Self::merge_json_lines) them.
    ///
    /// ```
    /// use shared::legacy::spans::{SpanKind, SpanRecorder};
    /// let child = SpanRecorder::new();
    /// child.in_span("child work", SpanKind::Cpu, || ());
    /// let parent = SpanRecorder::new();
    /// let printed = child.to_json_lines();
    /// let other_output = parent.merge_json_lines(&printed);
    /// assert!(other_output.is_empty());
    /// assert_eq!(parent.spans()[0].task, "child work");
    /// ```
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for span in self.spans() {
            let wire = WireLine {
                span: WireSpan {
                    start_unix_ns: self.origin_unix_ns + span.start.as_nanos() as u64,
                    end_unix_ns: self.origin_unix_ns + span.end.as_nanos() as u64,
                    task: span.task,
                    thread_name: span.thread_name,
                    thread_id: span.thread_id,
                    pid: span.pid,
                    kind: span.kind,
                },
            };
            out.push_str(&serde_json::to_string(&wire).expect("a span always serializes"));
            out.push('\n');
        }
        out
    }

    /// Merges spans printed by [`to_json_lines`](Self::to_json_lines) (usually a child process's
    /// standard output), converting their times to this recorder's origin. Returns the lines that
    /// were not spans, so the caller can still show what the child said.
    ///
    /// ```
    /// let recorder = shared::legacy::spans::SpanRecorder::new();
    /// let rest = recorder.merge_json_lines("hello from the child\n");
    /// assert_eq!(rest, vec!["hello from the child"]);
    /// ```
    pub fn merge_json_lines<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut other = Vec::new();
        for line in text.lines() {
            match serde_json::from_str::<WireLine>(line) {
                Ok(WireLine { span }) => {
                    let offset = |unix_ns: u64| {
                        Duration::from_nanos(unix_ns.saturating_sub(self.origin_unix_ns))
                    };
                    self.push(Span {
                        start: offset(span.start_unix_ns),
                        end: offset(span.end_unix_ns.max(span.start_unix_ns)),
                        task: span.task,
                        thread_name: span.thread_name,
                        thread_id: span.thread_id,
                        pid: span.pid,
                        kind: span.kind,
                    });
                }
                Err(_) => other.push(line),
            }
        }
        other
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Span>> {
        // A panic elsewhere while pushing cannot leave a Vec half-updated, so a poisoned lock
        // still holds good data.
        self.spans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An open span; records itself when dropped. Made by [`SpanRecorder::start`].
///
/// ```
/// use shared::legacy::spans::{SpanKind, SpanRecorder};
/// let recorder = SpanRecorder::new();
/// recorder.start("quick", SpanKind::Cpu).end();
/// assert_eq!(recorder.len(), 1);
/// ```
#[derive(Debug)]
pub struct SpanGuard<'a> {
    recorder: &'a SpanRecorder,
    task: Option<String>,
    kind: SpanKind,
    start: Instant,
}

impl SpanGuard<'_> {
    /// Ends the span now.
    ///
    /// ```
    /// let recorder = shared::legacy::spans::SpanRecorder::new();
    /// recorder.start("x", shared::legacy::spans::SpanKind::Idle).end();
    /// assert!(!recorder.is_empty());
    /// ```
    pub fn end(self) {}
}

impl Drop for SpanGuard<'_> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.recorder
                .record(task, self.kind, self.start, Instant::now());
        }
    }
}

#[derive(Serialize, Deserialize)]
struct WireLine {
    span: WireSpan,
}

#[derive(Serialize, Deserialize)]
struct WireSpan {
    task: String,
    thread_name: String,
    thread_id: u64,
    pid: u32,
    kind: SpanKind,
    start_unix_ns: u64,
    end_unix_ns: u64,
}

fn unix_ns(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| since.as_nanos() as u64)
        .unwrap_or(0)
}

/// The calling thread's name (or `unnamed`) and OS thread id.
///
/// ```
/// let (name, id) = shared::legacy::spans::current_thread();
/// assert!(!name.is_empty() && id > 0);
/// ```
pub fn current_thread() -> (String, u64) {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("unnamed").to_string();
    (name, os_thread_id())
}

pub use crate::timing::os_thread_id;
