//! Section 1.5, why the GIL exists: CPython keeps a reference count in every object, and updating
//! it is a read-modify-write that is not thread-safe. Two threads doing it at once lose updates.
//!
//! We show the race without undefined behaviour: the count is an atomic, but the "increment" is a
//! separate `load` and `store`, exactly the non-atomic read-modify-write CPython's C code does.
//! Between the two, the other thread's update can be overwritten. `fetch_add` does the whole
//! read-modify-write as one indivisible step and loses nothing.

use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};

use shared::legacy::narrate::Narrator;
use shared::legacy::report::Measurement;
use shared::legacy::{DemoReport, SpanKind, SpanRecorder};
use shared::timing::measure;

use crate::Sizes;

/// How many threads race on the count.
pub const THREADS: u64 = 2;

/// The result of `threads` threads adding 1 to a count `increments` times each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// threads x increments: what a correct count ends at.
    pub expected: u64,
    /// What the count really ended at.
    pub counted: u64,
}

impl Tally {
    /// Increments that were overwritten by another thread and so never counted.
    ///
    /// ```
    /// let tally = ch01_gil_analogy::demos::refcount::Tally { expected: 10, counted: 7 };
    /// assert_eq!(tally.lost_updates(), 3);
    /// ```
    pub fn lost_updates(&self) -> u64 {
        self.expected.saturating_sub(self.counted)
    }
}

/// How one thread adds 1 to the shared count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Increment {
    /// Read, then write back the value + 1: two steps another thread can come between.
    LoadThenStore,
    /// One indivisible read-modify-write (`fetch_add`).
    FetchAdd,
}

/// Races `threads` threads on one count; records one `Cpu` span per thread in `recorder`.
///
/// ```
/// use ch01_gil_analogy::demos::refcount::{Increment, count};
/// let tally = count(Increment::FetchAdd, 2, 10_000, &shared::legacy::SpanRecorder::new());
/// assert_eq!(tally.counted, 20_000);
/// ```
pub fn count(how: Increment, threads: u64, increments: u64, recorder: &SpanRecorder) -> Tally {
    let refcount = AtomicU64::new(0);
    // Start every thread at the same moment so that they really overlap.
    let start_line = Barrier::new(threads as usize);
    std::thread::scope(|scope| {
        for t in 1..=threads {
            let (refcount, start_line) = (&refcount, &start_line);
            let name = format!("thread {t}");
            std::thread::Builder::new()
                .name(name.clone())
                .spawn_scoped(scope, move || {
                    start_line.wait();
                    recorder.in_span(name, SpanKind::Cpu, || {
                        for _ in 0..increments {
                            increment(refcount, how);
                        }
                    });
                })
                .expect("the OS refused to start a thread");
        }
    });
    Tally {
        expected: threads * increments,
        counted: refcount.load(Ordering::SeqCst),
    }
}

fn increment(refcount: &AtomicU64, how: Increment) {
    match how {
        Increment::LoadThenStore => {
            let seen = refcount.load(Ordering::Relaxed);
            // Another thread may store here; our store below then overwrites its update.
            refcount.store(seen + 1, Ordering::Relaxed);
        }
        Increment::FetchAdd => {
            refcount.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The `refcount` demo.
pub fn run(narrator: &Narrator, sizes: &Sizes) -> anyhow::Result<DemoReport> {
    narrator.header(
        "1.5",
        "Why the GIL exists: reference counts",
        "A count updated as 'read, then write back + 1' by two threads at once loses updates;\n\
         an atomic read-modify-write loses none. CPython's counts are the first kind, so it\n\
         lets only one thread run bytecode at a time.",
    );
    let increments = sizes.increments;
    narrator.say(format!(
        "{THREADS} threads each add 1 to a shared count {increments} times.\n"
    ));
    let mut report = DemoReport::new("refcount", "1.5");
    let racy_spans = SpanRecorder::new();
    let progress = narrator.progress("counting", None);
    for (name, how, recorder) in [
        ("non_atomic", Increment::LoadThenStore, &racy_spans),
        ("atomic", Increment::FetchAdd, &SpanRecorder::new()),
    ] {
        let (tally, usage) = measure(|| count(how, THREADS, increments, recorder));
        report.push(
            Measurement::from_usage(name, usage)
                .field("expected", tally.expected as f64)
                .field("counted", tally.counted as f64)
                .field("lost_updates", tally.lost_updates() as f64),
        );
        progress.inc();
    }
    drop(progress);
    narrator.report(&report, None);
    narrator.timeline(
        "the two threads updating the count (non_atomic)",
        &racy_spans.spans(),
    );

    let lost = |name| {
        report
            .get(name)
            .and_then(|m| m.get("lost_updates"))
            .unwrap_or(0.0)
    };
    let (racy_lost, atomic_lost) = (lost("non_atomic"), lost("atomic"));
    let racy_line = if racy_lost > 0.0 {
        format!(
            "Load-then-store lost {racy_lost:.0} of {} updates: both threads read the same value \
             and both wrote back value + 1.",
            THREADS * increments
        )
    } else {
        "Load-then-store lost nothing this time: the threads did not overlap enough (try a larger \
         --increments); the race is still there, only unlucky."
            .to_string()
    };
    let atomic_line =
        format!("fetch_add lost {atomic_lost:.0}: one indivisible step cannot be interleaved.");
    narrator.summary(
        "1.5",
        &[
            &racy_line,
            &atomic_line,
            "CPython's reference counts are load-then-store; the GIL makes them safe by never \
             letting two threads run bytecode at once. Rust instead refuses at compile time to \
             send its non-atomic Rc to another thread (see the crate docs).",
        ],
    );
    Ok(report)
}
