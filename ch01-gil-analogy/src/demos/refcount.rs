//! Section 1.5, why the GIL exists: CPython keeps a reference count in every object and frees the
//! object the moment that count reaches zero; updating the count is a read-modify-write that is
//! not thread-safe. Two threads doing it at once lose updates.
//!
//! We show the race without undefined behaviour: the count is an atomic, but the "increment" is a
//! separate `load` and `store`, exactly the non-atomic read-modify-write CPython's C code does.
//! Between the two, the other thread's update can be overwritten. `fetch_add` does the whole
//! read-modify-write as one indivisible step and loses nothing.

use std::rc::{Rc, Weak};
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::info_span;

// ---- the lesson: a count freed at zero, and two ways of adding 1 from two threads ----

/// An object that notes when it is freed, like CPython's `__del__`.
#[derive(Debug)]
pub struct Object<'a> {
    /// Incremented by `drop`.
    pub frees: &'a AtomicU64,
}

impl Drop for Object<'_> {
    fn drop(&mut self) {
        self.frees.fetch_add(1, Ordering::SeqCst);
    }
}

/// One step of [`drop_references`]: the reference count just after a reference went away, and
/// how many times the object had been freed by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterDrop {
    /// `Rc::strong_count` after the drop (0 once the last one is gone).
    pub count: usize,
    /// How many times the object's `drop` ran so far.
    pub frees: u64,
}

/// Makes one object with `references` references to it (`Rc`, Rust's reference count), then
/// drops them one by one, noting the count and whether the object is still alive after each.
///
/// ```
/// use std::sync::atomic::AtomicU64;
/// use ch01_gil_analogy::demos::refcount::drop_references;
/// let frees = AtomicU64::new(0);
/// let steps = drop_references(3, &frees);
/// assert_eq!(steps.iter().map(|s| (s.count, s.frees)).collect::<Vec<_>>(), [(2, 0), (1, 0), (0, 1)]);
/// ```
pub fn drop_references(references: usize, frees: &AtomicU64) -> Vec<AfterDrop> {
    let first = Rc::new(Object { frees });
    // A weak reference does not count: it lets us watch the count without keeping the object.
    let watcher: Weak<Object> = Rc::downgrade(&first);
    let mut all: Vec<Rc<Object>> = vec![first];
    while all.len() < references {
        all.push(Rc::clone(&all[0]));
    }
    let mut steps = Vec::new();
    while let Some(reference) = all.pop() {
        drop(reference);
        steps.push(AfterDrop {
            count: watcher.strong_count(),
            frees: frees.load(Ordering::SeqCst),
        });
    }
    steps
}

/// How one thread adds 1 to the shared count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Increment {
    /// Read, then write back the value + 1: two steps another thread can come between.
    LoadThenStore,
    /// One indivisible read-modify-write (`fetch_add`).
    FetchAdd,
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

/// `threads` threads each add 1 to one count `increments` times; returns what it ended at.
///
/// ```
/// use ch01_gil_analogy::demos::refcount::{Increment, count};
/// assert_eq!(count(Increment::FetchAdd, 2, 10_000), 20_000);
/// ```
pub fn count(how: Increment, threads: u64, increments: u64) -> u64 {
    let refcount = AtomicU64::new(0);
    // Start every thread at the same moment so that they really overlap.
    let start_line = Barrier::new(threads as usize);
    std::thread::scope(|scope| {
        for t in 1..=threads {
            let (refcount, start_line) = (&refcount, &start_line);
            scope.spawn(move || {
                start_line.wait();
                info_span!("thread", t).in_scope(|| {
                    for _ in 0..increments {
                        increment(refcount, how);
                    }
                });
            });
        }
    });
    refcount.load(Ordering::SeqCst)
}

// ---- measuring it ----

pub use measuring::{Freed, THREADS, Tally, freed, run, tally};

mod measuring {
    use std::sync::atomic::AtomicU64;

    use serde::Serialize;
    use shared::timing::measure;
    use shared::{Narrator, Recording, Report, Span};

    use super::Increment;
    use crate::Sizes;

    const DEMO: &str = "refcount";
    const SECTION: &str = "1.5";
    /// How many threads race on the count.
    pub const THREADS: u64 = 2;
    /// How many references the freed-at-zero row makes.
    const REFERENCES: usize = 3;

    /// Threads adding to one count: `non_atomic` or `atomic`.
    #[derive(Debug, Clone, Serialize)]
    pub struct Tally {
        /// `non_atomic` or `atomic`.
        pub name: &'static str,
        /// Wall time.
        pub wall_ms: f64,
        /// CPU time of both threads.
        pub cpu_ms: f64,
        /// threads x increments: what a correct count ends at.
        pub expected: u64,
        /// What the count really ended at.
        pub counted: u64,
        /// Increments overwritten by another thread and so never counted.
        pub lost_updates: u64,
        /// One `thread` span per thread.
        #[serde(skip)]
        pub spans: Vec<Span>,
    }

    /// An object freed when its last reference went: `freed_at_zero`.
    #[derive(Debug, Clone, Serialize)]
    pub struct Freed {
        /// `freed_at_zero`.
        pub name: &'static str,
        /// References made to the object.
        pub references: u64,
        /// The reference count after each drop, in order.
        pub counts: String,
        /// How many drops happened before the object was freed.
        pub freed_after_drops: u64,
        /// How many times it was freed (1: exactly once).
        pub frees: u64,
    }

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Row<'a> {
        Tally(&'a Tally),
        Freed(&'a Freed),
    }

    /// Races `THREADS` threads on one count, `how` they add.
    pub fn tally(name: &'static str, how: Increment, increments: u64) -> Tally {
        let recording = Recording::start();
        let (counted, usage) = measure(|| super::count(how, THREADS, increments));
        let expected = THREADS * increments;
        Tally {
            name,
            wall_ms: usage.wall.as_secs_f64() * 1e3,
            cpu_ms: usage.cpu.as_secs_f64() * 1e3,
            expected,
            counted,
            lost_updates: expected.saturating_sub(counted),
            spans: recording.finish(),
        }
    }

    /// Drops `references` references to one object one by one and reports when it was freed.
    pub fn freed(references: usize) -> Freed {
        let frees = AtomicU64::new(0);
        let steps = super::drop_references(references, &frees);
        let counts: Vec<String> = steps.iter().map(|s| s.count.to_string()).collect();
        let freed_after = steps.iter().position(|s| s.frees > 0).map_or(0, |i| i + 1);
        Freed {
            name: "freed_at_zero",
            references: references as u64,
            counts: counts.join(" "),
            freed_after_drops: freed_after as u64,
            frees: steps.last().map_or(0, |s| s.frees),
        }
    }

    /// Runs the demo with its narration.
    pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
        narrator.header(
            SECTION,
            "Why the GIL exists: reference counts",
            "CPython frees an object when its reference count reaches zero. A count updated as \
             'read, then write back + 1' by two threads at once loses updates; an atomic \
             read-modify-write loses none. CPython's counts are the first kind, so it lets only \
             one thread touch interpreter state at a time.",
        );
        let increments = sizes.increments;
        narrator.say(format!(
            "One object with {REFERENCES} references, dropped one by one; then {THREADS} threads \
             each add 1 to a shared count {increments} times.\n\n"
        ));
        let freed = freed(REFERENCES);
        let racy = tally("non_atomic", Increment::LoadThenStore, increments);
        let atomic = tally("atomic", Increment::FetchAdd, increments);
        if narrator.json() {
            let rows = vec![Row::Tally(&racy), Row::Tally(&atomic), Row::Freed(&freed)];
            narrator.report(&Report::new(DEMO, SECTION, rows));
        } else {
            narrator.report(&Report::new(DEMO, SECTION, vec![&freed]));
            narrator.report(&Report::new(DEMO, SECTION, vec![&racy, &atomic]));
        }
        narrator.timeline(
            "the two threads updating the count (non_atomic)",
            &racy.spans,
        );

        let freed_line = format!(
            "The object's count went {} as its references were dropped, and it was freed exactly \
             when the last one went (after {} drops, {} time): what CPython does with every \
             object.",
            freed.counts, freed.freed_after_drops, freed.frees
        );
        let racy_line = if racy.lost_updates > 0 {
            format!(
                "Load-then-store lost {} of {} updates: both threads read the same value and both \
                 wrote back value + 1. A lost update to a reference count frees an object still \
                 in use, or never frees it.",
                racy.lost_updates, racy.expected
            )
        } else {
            "Load-then-store lost nothing this time: the threads did not overlap enough (try a \
             larger --increments); the race is still there, only unlucky."
                .to_string()
        };
        narrator.summary(
            SECTION,
            &[
                freed_line,
                racy_line,
                format!(
                    "fetch_add lost {}: one indivisible step cannot be interleaved.",
                    atomic.lost_updates
                ),
                "CPython's counts are plain read-then-write; the GIL makes them safe by letting \
                 only one thread at a time run bytecode or call the C API. Rust instead refuses \
                 at compile time to send its non-atomic Rc to another thread (see the crate docs)."
                    .into(),
            ],
        );
        Ok(())
    }
}
