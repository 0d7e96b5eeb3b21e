//! Section 1.4: processes and threads. A process has a private memory and at least one thread
//! (the main thread); threads it starts share that memory; a child process gets its own pid and
//! its own memory, so what it changes stays there. A thread is a lighter-weight process: it
//! starts faster and takes less memory.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::child::{Finished, SelfExe};
use shared::narrate::{plural, record, times};
use shared::python::{Python, Script};
use shared::timing::{
    children_cpu_time, human_ms, measure as measure_usage, ms, os_thread_id, ratio,
};
use shared::{Narrator, Report, Span, Usage};
use tracing::info_span;

use crate::child::{Hello, Job, anon_memory_kb, thread_count};
use crate::cli::Sizes;

// ---- the lesson: pids and threads, a child process, who sees whose memory ----
/// Listings 1.2/1.3: a new thread reports its own thread id, but its process's pid.
pub fn hello_from_a_thread() -> Hello {
    let thread = std::thread::spawn(Hello::here);
    thread.join().expect("the hello thread panicked")
}

/// Listing 1.4: a child process (this program, started again) reports its own pid and ours, its
/// thread count and the id of the thread that answered: its main thread.
pub fn hello_from_a_child() -> anyhow::Result<Finished<Hello>> {
    SelfExe::current()?.run(&Job::Hello)
}

/// Threads count, then add what they counted to one counter the parent owns (shared through an
/// `Arc`): the parent sees it.
pub fn threads_share(increments: u64) -> Sharing {
    let counter = Arc::new(AtomicU64::new(0));
    let worker = |t: u64| {
        let counter = Arc::clone(&counter);
        move || {
            let counted = info_span!("thread", t).in_scope(|| count_in_a_copy(increments));
            let saw = counter.fetch_add(counted, Ordering::SeqCst) + counted;
            (std::process::id(), counted, saw)
        }
    };
    let threads: Vec<_> = (1..=WORKERS).map(worker).map(std::thread::spawn).collect();
    let answers: Result<_, _> = threads.into_iter().map(JoinHandle::join).collect();
    let answers = answers.expect("a counting thread panicked");
    Sharing::new(answers, counter.load(Ordering::SeqCst))
}

/// Child processes made by `fork` (`multiprocessing`'s start method on Linux before Python
/// 3.14): each starts with a copy of the parent's whole memory, this counter (at `start`)
/// included, adds what it counted to it and reports what it then reads. The parent's counter
/// stays at `start`.
pub fn processes_copy(start: u64, increments: u64) -> anyhow::Result<Sharing> {
    let counter = AtomicU64::new(start);
    let add = || {
        let counted = count_in_a_copy(increments);
        counter.fetch_add(counted, Ordering::SeqCst) + counted
    };
    let children = (0..WORKERS).map(|_| crate::child::fork(add));
    let mut answers = Vec::new();
    for child in children.collect::<Result<Vec<_>, _>>()? {
        let (pid, saw) = (child.pid(), child.wait()?);
        answers.push((pid, saw - start, saw));
    }
    Ok(Sharing::new(answers, counter.load(Ordering::SeqCst)))
}

// ---- measuring it ----

/// The demo's name on the command line and in its report.
pub const DEMO: &str = "processes-and-threads";
const SECTION: &str = "1.4";
/// The parent's counter before it forks: a child that reads this plus its count had a copy.
const PARENT_START: u64 = 1000;
/// How many threads, then processes, the start-up rows start.
const START_UNITS: u64 = 100;
/// Threads alive at once when a thread's memory is measured: others' pages hardly move it.
pub const FOOTPRINT_THREADS: u64 = 100;
/// How many threads and how many child processes count.
pub const WORKERS: u64 = 2;
/// `threading` and `multiprocessing` starting units that do nothing.
const START_PY: Script = Script::new("start.py", include_str!("start.py"));

/// Adds 1 to a private counter `times` times and returns it: what threads and children all do.
pub fn count_in_a_copy(times: u64) -> u64 {
    // black_box: count one by one, as written, instead of letting the compiler add `times`.
    (0..times).fold(0, |copy, _| black_box(copy + 1))
}

/// What the memory experiment found for threads or for processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sharing {
    /// The pids the workers reported.
    pub worker_pids: Vec<u32>,
    /// The sum of what each worker added to the counter.
    pub workers_counted: u64,
    /// The most any worker read from the counter right after its own addition.
    pub workers_saw: u64,
    /// The parent's counter afterwards.
    pub parent_sees: u64,
}

impl Sharing {
    /// From each worker's (pid, count, what it read after adding) and the parent's counter.
    fn new(answers: Vec<(u32, u64, u64)>, parent_sees: u64) -> Self {
        Self {
            worker_pids: answers.iter().map(|&(pid, _, _)| pid).collect(),
            workers_counted: answers.iter().map(|&(_, counted, _)| counted).sum(),
            workers_saw: answers.iter().map(|&(_, _, saw)| saw).max().unwrap_or(0),
            parent_sees,
        }
    }

    /// True if any worker ran in another process.
    pub fn pid_differs(&self) -> bool {
        let here = std::process::id();
        self.worker_pids.iter().any(|&pid| pid != here)
    }

    /// True if the parent saw every worker's increments in its own counter.
    pub fn shared_memory(&self) -> bool {
        self.workers_counted > 0 && self.parent_sees == self.workers_counted
    }

    /// True if a worker read a value the parent's counter never shows: it changed its own copy.
    pub fn private_memory(&self) -> bool {
        self.workers_saw > self.parent_sees
    }

    /// The row: `threads` or `processes` (CPU time includes child processes').
    fn row(&self, name: &'static str, usage: &Usage) -> Value {
        json!({
            "name": name,
            "wall_ms": ms(usage.wall),
            "cpu_ms": ms(usage.cpu),
            "pid_differs": u8::from(self.pid_differs()),
            "shared_memory": u8::from(self.shared_memory()),
            "private_memory": u8::from(self.private_memory()),
            "workers_counted": self.workers_counted,
            "workers_saw": self.workers_saw,
            "parent_sees": self.parent_sees,
        })
    }
}

/// `thread_hello` or `child_hello`: `same_pid` when it ran in this process, `main_thread` when
/// its thread id is its pid (on Linux, the process's main thread).
fn greet(name: &'static str, hello: &Hello) -> Value {
    json!({
        "name": name,
        "pid": hello.pid,
        "thread_id": hello.thread_id,
        "threads": hello.threads,
        "same_pid": u8::from(hello.pid == std::process::id()),
        "main_thread": u8::from(hello.thread_id == u64::from(hello.pid)),
    })
}

/// `thread_start`, `process_start`, `python_thread_start` or `python_process_start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Start {
    /// Which.
    pub name: String,
    /// How many were started (and joined or waited for), one after the other.
    pub units: u64,
    /// Wall time for all of them.
    pub wall_ms: f64,
    /// Wall time per unit, in microseconds.
    pub per_unit_us: f64,
    /// CPU time per unit in µs, threads and ended children (CPython rows): no wait for a CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_unit: Option<f64>,
}

/// The memory one thread or one process holds: `thread_memory` or `process_memory`.
#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    /// `thread_memory` or `process_memory`.
    pub name: &'static str,
    /// How many were alive when memory was read.
    pub units: u64,
    /// Anonymous resident memory per unit in KiB: heap and stacks, no kernel bookkeeping.
    pub kb_per_unit: f64,
}

/// Starts `units` idle threads, then `units` idle children, each ended before the next.
pub fn measure_start(units: u64) -> anyhow::Result<[Start; 2]> {
    let exe = SelfExe::current()?;
    let (joined, threads) =
        measure_usage(|| (0..units).try_for_each(|_| std::thread::spawn(|| ()).join()));
    joined.expect("an empty thread panicked");
    let (done, processes) =
        measure_usage(|| (0..units).try_for_each(|_| exe.run::<Value>(&Job::Nothing).map(drop)));
    done?;
    let rows = [("thread_start", threads), ("process_start", processes)];
    Ok(rows.map(|(name, Usage { wall, .. })| Start {
        name: name.into(),
        units,
        wall_ms: ms(wall),
        per_unit_us: ratio(wall.as_secs_f64() * 1e6, units as f64),
        cpu_us_per_unit: None,
    }))
}

/// The same in CPython (`start.py`), with a span for each start-to-join.
pub fn measure_python_start(python: &Python, units: u64) -> anyhow::Result<Finished<[Start; 2]>> {
    python.run(&START_PY, &[units.to_string()])
}

/// One thread's memory (growth of ours with `threads` alive at once) beside a fresh child's own
/// reading. None without Linux's `/proc`.
pub fn footprint(threads: u64, child: &Hello) -> Option<[Footprint; 2]> {
    let before = anon_memory_kb()?;
    let barrier = Barrier::new(threads as usize + 1);
    let during = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                barrier.wait();
                barrier.wait();
            });
        }
        barrier.wait();
        let during = anon_memory_kb();
        barrier.wait();
        during
    })?;
    let per_thread = ratio(during.saturating_sub(before) as f64, threads as f64);
    let rows = [
        ("thread_memory", threads, per_thread),
        ("process_memory", 1, child.anon_kb? as f64),
    ];
    Some(rows.map(|(name, units, kb_per_unit)| Footprint {
        name,
        units,
        kb_per_unit,
    }))
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// A spawned thread, then a fresh child process, saying who it is.
    pub hellos: [Hello; 2],
    /// Threads counting into the parent's counter, then forked children into their copies (their
    /// CPU included), and what each cost.
    pub counts: [(Sharing, Usage); 2],
    /// The counting threads' spans.
    pub spans: Vec<Span>,
    /// Threads, then processes, started one after the other.
    pub starts: [Start; 2],
    /// The same in CPython, with a span per start (none without `python3`).
    pub python: Option<Finished<[Start; 2]>>,
    /// A thread's and a process's own memory (Linux only).
    pub footprints: Option<[Footprint; 2]>,
}

/// Hellos, `sizes.increments` counted by threads and forked children, starts and memory.
pub fn measure(sizes: &Sizes) -> anyhow::Result<Measured> {
    let (thread, child) = (hello_from_a_thread(), hello_from_a_child()?.result);
    let threads = record("counting in threads", "thread", Some(WORKERS), || {
        measure_usage(|| threads_share(sizes.increments))
    });
    let before = children_cpu_time();
    let (processes, mut usage) = measure_usage(|| processes_copy(PARENT_START, sizes.increments));
    usage.cpu += children_cpu_time().saturating_sub(before);
    let (starts, _) = record("starting threads and processes", "", None, || {
        measure_start(START_UNITS)
    });
    let python = shared::narrate::python().map(|p| measure_python_start(&p, START_UNITS));
    Ok(Measured {
        starts: starts?,
        python: python.transpose()?,
        footprints: footprint(FOOTPRINT_THREADS, &child),
        hellos: [thread, child],
        counts: [threads.0, (processes?, usage)],
        spans: threads.1,
    })
}

// ---- narrating it ----

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "Processes, threads, multithreading and multiprocessing",
        "A process has its own memory and at least one thread; its threads share that memory, \
         a child process gets a new pid and a memory of its own. A thread is a lighter-weight \
         process.",
    );
    narrator.say(format!(
        "{WORKERS} threads, then {WORKERS} forked children (whose copy starts at {PARENT_START}), \
         each count to {}; {START_UNITS} threads, then processes, start one at a time, in Rust \
         and CPython; {FOOTPRINT_THREADS} threads stay alive beside a child.\n\n",
        sizes.increments
    ));
    let m = measure(sizes)?;
    let ([thread, child], [(threads, t_usage), (processes, p_usage)]) = (&m.hellos, &m.counts);
    narrator.say(format!(
        "This process is pid {}, with {} right now, running on thread '{}' (os id {}); \
         the child says its parent is pid {}.\n\n",
        std::process::id(),
        thread_count().map_or("? threads".into(), |n| plural(n, "thread", "threads")),
        std::thread::current().name().unwrap_or("unnamed"),
        os_thread_id(),
        child.parent_pid,
    ));

    // A forked child may not record spans (see `child::fork`): the timeline has the threads.
    let python_rows = m.python.iter().flat_map(|p| &p.result);
    let python_rows: Vec<Value> = python_rows.map(|s| json!(s)).collect();
    let memory = vec![
        threads.row("threads", t_usage),
        processes.row("processes", p_usage),
    ];
    let starts = vec![json!(m.starts[0]), json!(m.starts[1])];
    let hellos = vec![greet("thread_hello", thread), greet("child_hello", child)];
    let footprint_rows: Vec<Value> = m.footprints.iter().flatten().map(|f| json!(f)).collect();
    if narrator.json() {
        // Rust's rows in the order scripts have always read them, then CPython's.
        let rows = [memory, starts, hellos, footprint_rows, python_rows].concat();
        narrator.report(&Report::new(DEMO, SECTION, rows));
    } else {
        let starts = [starts, python_rows].concat();
        let tables = [hellos, memory, starts, footprint_rows];
        for rows in tables.into_iter().filter(|rows| !rows.is_empty()) {
            narrator.report(&Report::new(DEMO, SECTION, rows));
        }
    }
    narrator.timeline("the counting threads, both in this pid", &m.spans);
    if let Some(python) = &m.python {
        let title = "CPython starting threads, then processes, one at a time";
        narrator.timeline(title, &python.spans);
    }

    let mut lines = Vec::new();
    if child.threads == Some(1) && child.thread_id == u64::from(child.pid) {
        lines.push(String::from(
            "The fresh child process had exactly 1 thread, whose id was the child's pid: a \
             process starts with its main thread. The thread we spawned had an id of its own.",
        ));
    }
    let (counted, saw) = (threads.workers_counted, threads.parent_sees);
    lines.push(match threads.shared_memory() {
        true => format!(
            "This process's counter shows all {saw} of the threads' increments: threads share \
             memory."
        ),
        false => format!("The threads counted {counted} but the parent's counter says {saw}."),
    });
    let (saw, parent) = (processes.workers_saw, processes.parent_sees);
    lines.push(match processes.private_memory() {
        true => format!(
            "The child processes each read {saw} from their copy of the counter, while the \
             parent's still says {parent}: a process's memory is private, so results come back \
             as messages (here: a pipe)."
        ),
        false => format!("The child processes read at most {saw}, the parent {parent}."),
    });
    lines.push(start_line("A thread", &m.starts[0], &m.starts[1]));
    if let Some([thread, process]) = m.python.as_ref().map(|python| &python.result) {
        lines.push(start_line(
            "In CPython, a threading.Thread",
            thread,
            process,
        ));
    }
    if let Some([threads, process]) = &m.footprints {
        lines.push(format!(
            "A thread held {:.1} KiB of memory of its own (its stack, mostly), a fresh child \
             process {} as much (the kernel's own bookkeeping not counted).",
            threads.kb_per_unit,
            times(process.kb_per_unit, threads.kb_per_unit)
        ));
    }
    narrator.summary(SECTION, &lines);
    Ok(())
}

/// What a pair of start-up rows shows, true to its numbers.
fn start_line(thread_is: &str, thread: &Start, process: &Start) -> String {
    let (t, p) = (thread.per_unit_us, process.per_unit_us);
    let faster = match p > t {
        true => format!("a thread was {} faster to start here", times(p, t)),
        false => "here a process was not slower to start".into(),
    };
    let cpu = match (thread.cpu_us_per_unit, process.cpu_us_per_unit) {
        // Wall time includes each new thread's wait for a CPU; CPU time is the start's own cost.
        (Some(thread), Some(process)) => format!(
            " In CPU time, {} per thread against {} per process ({} as much).",
            human_ms(thread / 1e3),
            human_ms(process / 1e3),
            times(process, thread)
        ),
        _ => String::new(),
    };
    format!(
        "{thread_is} started and finished in {} on average, a process in {}: {faster}.{cpu}",
        human_ms(t / 1e3),
        human_ms(p / 1e3)
    )
}
