//! Section 1.5, why the GIL exists: CPython keeps a reference count in every object and frees the
//! object the moment that count reaches zero; updating the count is a read-modify-write that is
//! not thread-safe. Two threads doing it at once lose updates.
//!
//! We show the race without undefined behaviour: the count is an atomic, but the "increment" is a
//! separate `load` and `store`, exactly the non-atomic read-modify-write CPython's C code does.
//! Between the two, the other thread's update can be overwritten. `fetch_add` does the whole
//! read-modify-write as one indivisible step and loses nothing.

use std::rc::{Rc, Weak};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shared::affinity::{allowed_cpus, to_cpu};
use shared::narrate::plural;
use shared::python::{Python, Script};
use shared::timing::{measure as measure_usage, ms, thread_cpu_time};
use shared::trace::record;
use shared::{Narrator, Report, Span};

use crate::cli::Sizes;
use crate::demos::gil::handoffs;
use crate::gil::Gil;

// ---- the lesson: a count freed at zero, and two ways of adding 1 from two threads ----

/// Makes one object with `references` references to it (`Rc`, Rust's reference count), then
/// drops them one by one, noting after each the count and how many times the object was freed.
pub fn drop_references(references: usize, frees: &AtomicU64) -> Vec<(usize, u64)> {
    let first = Rc::new(Object { frees });
    // A weak reference does not count: it lets us watch the count without keeping the object.
    let watcher: Weak<Object> = Rc::downgrade(&first);
    // `references` handles to the one object: `vec!` clones the `Rc`, and each clone counts.
    let mut all: Vec<Rc<Object>> = vec![first; references];
    let mut steps = Vec::new();
    while let Some(reference) = all.pop() {
        drop(reference);
        steps.push((watcher.strong_count(), frees.load(SeqCst)));
    }
    steps
}

/// How one thread adds 1 to the shared count.
pub type Increment = fn(&AtomicU64);

/// Read, then write back the value + 1: two steps another thread can come between.
pub fn load_then_store(refcount: &AtomicU64) {
    let seen = refcount.load(Relaxed);
    // Another thread may store here; our store below then overwrites its update.
    refcount.store(seen + 1, Relaxed);
}

/// One indivisible read-modify-write.
pub fn fetch_add(refcount: &AtomicU64) {
    refcount.fetch_add(1, Relaxed);
}

/// `threads` threads each add 1 to one count, at least `increments` times each, all at once
/// (see [`race`] for how they are made to overlap). Each runs its adds as a thread of the model
/// interpreter: holding `gil` if it is enabled, free to run any time if it is [`Gil::disabled`].
/// Returns the adds made (what a correct count ends at) and what the count really ended at.
pub fn count(gil: &Gil, how: Increment, threads: u64, increments: u64) -> (u64, u64) {
    let refcount = &AtomicU64::new(0);
    let added = race(threads, increments, |t| {
        let mut thread = gil.attach(t.to_string());
        move || thread.execute(|| how(refcount))
    });
    (added, refcount.load(SeqCst))
}

// ---- measuring it ----

/// An object that counts in `frees` when it is freed, like CPython's `__del__`.
#[derive(Debug)]
pub struct Object<'a> {
    frees: &'a AtomicU64,
}

impl Drop for Object<'_> {
    fn drop(&mut self) {
        self.frees.fetch_add(1, SeqCst);
    }
}

/// The demo's name on the command line and in its report.
pub const DEMO: &str = "refcount";
const SECTION: &str = "1.5";
/// How many threads race on the count.
pub const THREADS: u64 = 2;
/// How many references the freed-at-zero row makes.
const REFERENCES: usize = 3;
/// Steps a racing thread makes between two looks at the others.
const CHUNK: u64 = 1024;
/// Steps (64 chunks) the other threads must make while a thread is itself running (on two
/// cores at the same moment) before they stop...
const OVERLAP: u64 = 65_536;
/// ...or how many times a thread must have seen the others advance while it was switched
/// out (on one core, or under a lock)...
const SWITCHES: u64 = 64;
/// ...or how long they go on at most (a lone thread never sees another).
const PATIENCE: Duration = Duration::from_secs(2);

/// Runs `threads` threads, each calling the step `start(t)` made for it (t = 1, 2, ...) over
/// and over; returns how many steps they made in all. They are made to really overlap:
/// - each is pinned to a CPU of its own where there are two or more, so the OS cannot run
///   them one after the other on one core (as it likes to do with a thread it just woke,
///   next to the one that woke it);
/// - they start by spinning on a counter, not by sleeping on a barrier, so none waits to be
///   woken while another already runs;
/// - they are sized by what happened, not by a count: each keeps going until every thread
///   has made `min_steps` and the others made `OVERLAP` steps while a thread was running
///   itself, or were switched in `SWITCHES` times while it was switched out, or `PATIENCE`
///   ran out. A busy machine makes them run longer, not overlap less.
pub fn race<S: FnMut()>(threads: u64, min_steps: u64, start: impl Fn(u64) -> S + Sync) -> u64 {
    let cpus = allowed_cpus().unwrap_or_default();
    let progress: &Vec<AtomicU64> = &(0..threads).map(|_| AtomicU64::new(0)).collect();
    let (ready, overlap, switches) = (&AtomicU64::new(0), &AtomicU64::new(0), &AtomicU64::new(0));
    let (chunk, start) = (CHUNK.min(min_steps).max(1), &start);
    std::thread::scope(|scope| {
        let racers: Vec<_> = (0..progress.len())
            .map(|i| {
                let cpu = (cpus.len() >= 2).then(|| cpus[i % cpus.len()]);
                scope.spawn(move || {
                    if let Some(cpu) = cpu {
                        // Pinning helps the race show; where it is refused, race unpinned.
                        let _ = to_cpu(cpu);
                    }
                    ready.fetch_add(1, SeqCst);
                    while ready.load(SeqCst) < threads {
                        std::thread::yield_now();
                    }
                    let began = Instant::now();
                    let others = || -> u64 {
                        let all = progress.iter().map(|p| p.load(Relaxed));
                        all.sum::<u64>() - progress[i].load(Relaxed)
                    };
                    let mut step = start(i as u64 + 1);
                    let (mut seen, mut done) = (others(), 0);
                    loop {
                        let (wall, cpu) = (Instant::now(), thread_cpu_time());
                        (0..chunk).for_each(|_| step());
                        done += chunk;
                        progress[i].store(done, Relaxed);
                        let now = others();
                        if now != seen {
                            // Running most of the time the others advanced: at the same
                            // moment. Otherwise they ran while this thread did not.
                            if (thread_cpu_time() - cpu) * 2 >= wall.elapsed() {
                                overlap.fetch_add((now - seen).min(chunk), Relaxed);
                            } else {
                                switches.fetch_add(1, Relaxed);
                            }
                            seen = now;
                        }
                        let everyone = progress.iter().all(|p| p.load(Relaxed) >= min_steps);
                        let enough = threads < 2
                            || overlap.load(Relaxed) >= OVERLAP
                            || switches.load(Relaxed) >= SWITCHES
                            || began.elapsed() >= PATIENCE;
                        if everyone && enough {
                            break done;
                        }
                    }
                })
            })
            .collect();
        let steps: Result<Vec<u64>, _> = racers.into_iter().map(ScopedJoinHandle::join).collect();
        steps.expect("a counting thread panicked").iter().sum()
    })
}

/// Threads adding to one count: `non_atomic`, `atomic` or `non_atomic_under_gil`.
#[derive(Debug, Clone, Serialize)]
pub struct Tally {
    /// Which.
    pub name: &'static str,
    /// Wall time.
    pub wall_ms: f64,
    /// CPU time of both threads.
    pub cpu_ms: f64,
    /// Adds made by all threads: what a correct count ends at.
    pub expected: u64,
    /// What the count really ended at.
    pub counted: u64,
    /// Increments overwritten by another thread and so never counted.
    pub lost_updates: u64,
    /// How many times the model GIL went from one thread to the other (under the GIL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoffs: Option<u64>,
    /// One `thread` span per thread (per turn holding the lock, under the GIL).
    #[serde(skip)]
    pub spans: Vec<Span>,
}

/// `freed_at_zero`, or `cpython_refcount` (`refcount.py`), whose `counts` are what
/// `sys.getrefcount` said as each reference was made, then as each was dropped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Freed {
    /// Which.
    pub name: String,
    /// References made to the object.
    pub references: u64,
    /// The reference count after each step, in order.
    pub counts: String,
    /// How many drops happened before the object was freed.
    pub freed_after_drops: u64,
    /// How many times it was freed (1: exactly once).
    pub frees: u64,
}

/// `sys.getrefcount` while references are made, then dropped.
const REFCOUNT_PY: Script = Script::new("refcount.py", include_str!("refcount.py"));

/// The same in CPython: `cpython_refcount`.
pub fn cpython_freed(python: &Python, references: usize) -> anyhow::Result<Freed> {
    Ok(python.run(&REFCOUNT_PY, &[references.to_string()])?.result)
}

/// Races `THREADS` threads on one count, `how` they add, under `gil` or without it.
pub fn tally(name: &'static str, gil: &Gil, how: Increment, increments: u64) -> Tally {
    let (((expected, counted), usage), spans) =
        record(|| measure_usage(|| count(gil, how, THREADS, increments)));
    Tally {
        name,
        wall_ms: ms(usage.wall),
        cpu_ms: ms(usage.cpu),
        expected,
        counted,
        lost_updates: expected.saturating_sub(counted),
        handoffs: gil.is_enabled().then(|| handoffs(&spans)),
        spans,
    }
}

/// Drops `references` references to one object one by one and reports when it was freed.
pub fn freed(references: usize) -> Freed {
    let frees = AtomicU64::new(0);
    let steps = drop_references(references, &frees);
    let counts: Vec<String> = steps.iter().map(|(count, _)| count.to_string()).collect();
    let freed_at = steps.iter().position(|&(_, frees)| frees > 0);
    let freed_after = freed_at.map_or(0, |i| i + 1);
    Freed {
        name: "freed_at_zero".into(),
        references: references as u64,
        counts: counts.join(" "),
        freed_after_drops: freed_after as u64,
        frees: steps.last().map_or(0, |&(_, frees)| frees),
    }
}

/// `freed_at_zero`, `cpython_refcount` when CPython ran, then `non_atomic`, `atomic` and
/// `non_atomic_under_gil`: `THREADS` threads adding each way at least `sizes.increments` times.
pub fn measure(sizes: &Sizes) -> anyhow::Result<(Freed, Option<Freed>, [Tally; 3])> {
    let gil = Gil::new(Duration::from_millis(sizes.switch_interval));
    let no_lock = Gil::disabled();
    let ways = [
        ("non_atomic", &no_lock, load_then_store as Increment),
        ("atomic", &no_lock, fetch_add),
        ("non_atomic_under_gil", &gil, load_then_store),
    ];
    let tallies = ways.map(|(name, gil, how)| tally(name, gil, how, sizes.increments));
    let cpython = shared::narrate::python().map(|p| cpython_freed(&p, REFERENCES));
    let (freed, cpython) = (freed(REFERENCES), cpython.transpose()?);
    Ok((freed, cpython, tallies))
}

// ---- narrating it ----

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "Why the GIL exists: reference counts",
        "CPython frees an object when its reference count reaches zero. A count updated as \
         'read, then write back + 1' by two threads at once loses updates; an atomic \
         read-modify-write loses none, and neither does the first kind under a GIL. \
         CPython's counts are the first kind, so it lets only one thread touch interpreter \
         state at a time.",
    );
    narrator.say(format!(
        "One object with {REFERENCES} references, dropped one by one; then {THREADS} threads \
         each add 1 to a shared count at least {} and until their adds have interleaved: \
         without a lock, then under the model GIL.\n\n",
        plural(sizes.increments, "time", "times")
    ));
    let (freed, cpython, tallies) = &measure(sizes)?;
    let [racy, atomic, under_gil] = tallies;
    if narrator.json() {
        let rows = Report::mixed(DEMO, SECTION).with(racy).with(atomic);
        let rows = rows.with(freed).with(under_gil);
        narrator.report(&cpython.iter().fold(rows, |rows, row| rows.with(row)));
    } else {
        let frees = [freed].into_iter().chain(cpython).collect();
        narrator.report(&Report::new(DEMO, SECTION, frees));
        narrator.report(&Report::new(DEMO, SECTION, tallies.iter().collect()));
    }
    let title = "the two threads updating the count (non_atomic)";
    narrator.timeline(title, &racy.spans);

    let mut lines = vec![format!(
        "The object's count went {} as its references were dropped, and it was freed exactly \
         when the last one went (after {}, {}): what CPython does with every object.",
        freed.counts,
        plural(freed.freed_after_drops, "drop", "drops"),
        plural(freed.frees, "time", "times")
    )];
    if let Some(row) = cpython {
        let frees = plural(row.frees, "time", "times");
        lines.push(format!(
            "In CPython, sys.getrefcount rose and fell with the references, and the object was \
             freed after drop {}, {frees}.",
            row.freed_after_drops
        ));
    }
    let (lost, of) = (racy.lost_updates, racy.expected);
    let why = match lost {
        0 => "a loss needs a write between the other's load and store: likely, never certain.",
        _ => {
            "both threads read one value and both wrote back value + 1. A lost update to a \
              reference count frees an object still in use, or never frees it."
        }
    };
    lines.push(format!(
        "Load-then-store lost {lost} of {of} updates: {why}"
    ));
    lines.push(format!(
        "fetch_add lost {}: one indivisible step cannot be interleaved. Under the model GIL the \
         same load-then-store lost {} while the lock changed hands {}: a thread lets go only \
         between two whole adds.",
        atomic.lost_updates,
        under_gil.lost_updates,
        plural(under_gil.handoffs.unwrap_or(0), "time", "times")
    ));
    lines.push(String::from(
        "CPython's counts are plain read-then-write; the GIL makes them safe by letting only \
         one thread at a time run bytecode or call the C API. Rust instead refuses at \
         compile time to send its non-atomic Rc to another thread (see the crate docs).",
    ));
    narrator.summary(SECTION, &lines);
    Ok(())
}
