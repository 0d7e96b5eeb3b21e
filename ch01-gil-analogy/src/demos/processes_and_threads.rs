//! Section 1.4: processes and threads. A process has a private memory and at least one thread
//! (the main thread); threads it starts share that memory; a child process gets its own pid and
//! its own memory, so what it changes stays there. A thread is a lighter-weight process: it
//! starts faster and takes less memory.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use shared::timing::os_thread_id;
use tracing::info_span;

use crate::child::{ChildJob, ChildOutput, SelfExe};

// ---- the lesson: pids and threads, a child process, who sees whose memory ----
/// Listings 1.2/1.3: a new thread reports its own thread id, but its process's pid.
pub fn hello_from_a_thread() -> Hello {
    std::thread::spawn(|| (os_thread_id(), std::process::id(), thread_count()))
        .join()
        .expect("the hello thread panicked")
}

/// Listing 1.4: a child process (this program, started again) reports its own pid and ours, its
/// thread count and the id of the thread that answered: its main thread.
pub fn hello_from_a_child(exe: &SelfExe) -> anyhow::Result<ChildOutput> {
    exe.run(ChildJob::Hello)
}

/// Threads count, then add what they counted to one counter the parent owns (shared through an
/// `Arc`): the parent sees it.
pub fn threads_share(increments: u64) -> Sharing {
    let counter = Arc::new(AtomicU64::new(0));
    let answers: Vec<(u32, u64, u64)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (1..=WORKERS)
            .map(|t| {
                let counter = Arc::clone(&counter);
                scope.spawn(move || {
                    let counted =
                        info_span!("thread", t).in_scope(|| count_in_a_copy(0, increments));
                    let saw = counter.fetch_add(counted, Ordering::SeqCst) + counted;
                    (std::process::id(), counted, saw)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a counting thread panicked"))
            .collect()
    });
    Sharing::new(answers, counter.load(Ordering::SeqCst))
}

/// Child processes made by `fork` (`multiprocessing`'s start method on Linux before Python
/// 3.14): each starts with a copy of the parent's whole memory, this counter (at `start`)
/// included, adds what it counted to it and reports what it then reads. The parent's counter
/// stays at `start`.
#[cfg(unix)]
pub fn processes_copy(start: u64, increments: u64) -> anyhow::Result<Sharing> {
    let counter = AtomicU64::new(start);
    let children: Vec<crate::child::Forked> = (0..WORKERS)
        .map(|_| {
            crate::child::fork(|| {
                let counted = count_in_a_copy(0, increments);
                counter.fetch_add(counted, Ordering::SeqCst) + counted
            })
        })
        .collect::<Result<_, _>>()?;
    let mut answers = Vec::new();
    for child in children {
        let (pid, saw) = (child.pid(), child.wait()?);
        answers.push((pid, saw - start, saw));
    }
    Ok(Sharing::new(answers, counter.load(Ordering::SeqCst)))
}

// ---- measuring it ----

// The types and helpers the listings above use, and the start-up loops that are timed.

/// What a thread says about itself: its OS thread id, its pid, and how many threads its process
/// has while it runs.
pub type Hello = (u64, u32, Option<u64>);

/// How many threads and how many child processes count.
pub const WORKERS: u64 = 2;

/// Adds 1 to a private copy of a counter `times` times and returns the copy. Threads and child
/// processes do exactly this same work.
pub fn count_in_a_copy(start: u64, times: u64) -> u64 {
    let mut copy = start;
    for _ in 0..times {
        // black_box: count one by one, as written, instead of letting the compiler add `times`.
        copy = black_box(copy + 1);
    }
    copy
}

/// Without `fork` there is no child that starts from a copy of this memory.
// mutants: a mutant of this body is never compiled on Unix, so no Unix test can see it.
#[cfg(not(unix))]
pub fn processes_copy(_start: u64, _increments: u64) -> anyhow::Result<Sharing> {
    anyhow::bail!("the private-memory experiment forks a child, which needs Unix")
}

/// Starts `units` threads that do nothing, one after the other, each joined before the next.
pub fn start_threads(units: u64) {
    for _ in 0..units {
        std::thread::spawn(|| ())
            .join()
            .expect("an empty thread cannot panic");
    }
}

/// Starts `units` child processes that do nothing, one after the other, each waited for.
pub fn start_processes(units: u64, exe: &SelfExe) -> anyhow::Result<()> {
    for _ in 0..units {
        exe.run(ChildJob::Nothing)?;
    }
    Ok(())
}

/// What the memory experiment found for threads or for processes.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// From each worker's (pid, what it counted, what it read after adding) and the parent's
    /// counter afterwards.
    fn new(answers: Vec<(u32, u64, u64)>, parent_sees: u64) -> Self {
        Self {
            worker_pids: answers.iter().map(|&(pid, _, _)| pid).collect(),
            workers_counted: answers.iter().map(|&(_, counted, _)| counted).sum(),
            workers_saw: answers.iter().map(|&(_, _, saw)| saw).max().unwrap_or(0),
            parent_sees,
        }
    }

    /// True if any worker ran in another process.
    ///
    /// ```
    /// use ch01_gil_analogy::demos::processes_and_threads::Sharing;
    /// let s = Sharing { worker_pids: vec![std::process::id()], workers_counted: 2, workers_saw: 2, parent_sees: 2 };
    /// assert!(!s.pid_differs());
    /// ```
    pub fn pid_differs(&self) -> bool {
        self.worker_pids
            .iter()
            .any(|&pid| pid != std::process::id())
    }

    /// True if the parent saw every worker's increments in its own counter.
    ///
    /// ```
    /// use ch01_gil_analogy::demos::processes_and_threads::Sharing;
    /// let s = Sharing { worker_pids: vec![1], workers_counted: 2, workers_saw: 2, parent_sees: 0 };
    /// assert!(!s.shared_memory());
    /// ```
    pub fn shared_memory(&self) -> bool {
        self.workers_counted > 0 && self.parent_sees == self.workers_counted
    }

    /// True if a worker read a value from its counter that the parent's counter never shows: it
    /// changed a copy of its own.
    ///
    /// ```
    /// use ch01_gil_analogy::demos::processes_and_threads::Sharing;
    /// let s = Sharing { worker_pids: vec![1], workers_counted: 2, workers_saw: 2, parent_sees: 0 };
    /// assert!(s.private_memory());
    /// ```
    pub fn private_memory(&self) -> bool {
        self.workers_saw > self.parent_sees
    }
}

/// What a process can read about itself (a child reports them too, so they live in
/// [`crate::child`]).
pub use crate::child::{anon_memory_kb, thread_count};
pub use measuring::{
    FOOTPRINT_THREADS, Footprint, Greeting, Memory, Start, footprint, measure_start, run,
    threads_alive_kb,
};

mod measuring {
    use std::sync::Barrier;

    use serde::Serialize;
    use shared::narrate::{plural, times};
    use shared::timing::{human_ms, measure, os_thread_id, ratio};
    use shared::{Narrator, Recording, Report, Span, Usage};

    use super::{Hello, Sharing, WORKERS};
    use crate::Sizes;
    use crate::child::{ChildReport, SelfExe, anon_memory_kb, children_cpu_time, thread_count};

    const DEMO: &str = "processes-and-threads";
    const SECTION: &str = "1.4";
    /// Where the parent sets its counter before forking: a child that reads it back plus its
    /// own count started from a copy of the parent's memory.
    const PARENT_START: u64 = 1000;
    /// How many threads, then processes, the start-up rows start.
    pub const START_UNITS: u64 = 100;
    /// How many threads are alive at once when one thread's memory is measured: enough that a
    /// few pages allocated by something else hardly move the figure per thread.
    pub const FOOTPRINT_THREADS: u64 = 100;

    /// A thread or a child process saying who it is: `thread_hello` or `child_hello`.
    #[derive(Debug, Clone, Serialize)]
    pub struct Greeting {
        /// `thread_hello` or `child_hello`.
        pub name: &'static str,
        /// The pid it reported.
        pub pid: u32,
        /// The OS id of the thread that answered.
        pub thread_id: u64,
        /// Its process's threads while it answered (Linux only).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub threads: Option<u64>,
        /// 1 when it ran in this process.
        pub same_pid: u8,
        /// 1 when its thread id is its pid: on Linux, the process's main thread.
        pub main_thread: u8,
    }

    impl Greeting {
        fn new(name: &'static str, (thread_id, pid, threads): Hello) -> Self {
            Self {
                name,
                pid,
                thread_id,
                threads,
                same_pid: u8::from(pid == std::process::id()),
                main_thread: u8::from(thread_id == u64::from(pid)),
            }
        }
    }

    /// Who sees the workers' counting: `threads` or `processes`.
    #[derive(Debug, Clone, Serialize)]
    pub struct Memory {
        /// `threads` or `processes`.
        pub name: &'static str,
        /// Wall time, start-up included.
        pub wall_ms: f64,
        /// CPU time, child processes included.
        pub cpu_ms: f64,
        /// 1 when the workers ran in another process.
        pub pid_differs: u8,
        /// 1 when the parent saw the workers' counting.
        pub shared_memory: u8,
        /// 1 when a worker read a value of the counter that the parent's never shows.
        pub private_memory: u8,
        /// What the workers counted together.
        pub workers_counted: u64,
        /// The most a worker read from the counter right after adding to it.
        pub workers_saw: u64,
        /// The parent's counter afterwards.
        pub parent_sees: u64,
        /// What a reader should know about this row.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub note: Option<String>,
        /// The workers' spans.
        #[serde(skip)]
        pub spans: Vec<Span>,
    }

    impl Memory {
        fn new(name: &'static str, sharing: &Sharing, usage: Usage, spans: Vec<Span>) -> Self {
            Self {
                name,
                wall_ms: shared::timing::ms(usage.wall),
                cpu_ms: shared::timing::ms(usage.cpu),
                pid_differs: u8::from(sharing.pid_differs()),
                shared_memory: u8::from(sharing.shared_memory()),
                private_memory: u8::from(sharing.private_memory()),
                workers_counted: sharing.workers_counted,
                workers_saw: sharing.workers_saw,
                parent_sees: sharing.parent_sees,
                // Without getrusage there is no reading of the children's CPU time.
                note: (name == "processes" && cfg!(not(unix)))
                    .then(|| "cpu leaves out the child processes on this platform".into()),
                spans,
            }
        }
    }

    /// Starting threads or processes that do nothing: `thread_start` or `process_start`.
    #[derive(Debug, Clone, Serialize)]
    pub struct Start {
        /// `thread_start` or `process_start`.
        pub name: &'static str,
        /// How many were started (and joined or waited for), one after the other.
        pub units: u64,
        /// Wall time for all of them.
        pub wall_ms: f64,
        /// Wall time per unit, in microseconds.
        pub per_unit_us: f64,
    }

    /// The memory one thread or one process holds: `thread_memory` or `process_memory`.
    #[derive(Debug, Clone, Serialize)]
    pub struct Footprint {
        /// `thread_memory` or `process_memory`.
        pub name: &'static str,
        /// How many were alive when memory was read.
        pub units: u64,
        /// Anonymous resident memory (heap and stacks, pages no other process shares) per unit,
        /// in KiB. The kernel's own bookkeeping for each is not in it.
        pub kb_per_unit: f64,
    }

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Row<'a> {
        Memory(&'a Memory),
        Start(&'a Start),
        Greeting(&'a Greeting),
        Footprint(&'a Footprint),
    }

    /// Starts `units` threads, then `units` processes, and measures both.
    pub fn measure_start(units: u64, exe: &SelfExe) -> anyhow::Result<[Start; 2]> {
        let row = |name, usage: Usage| Start {
            name,
            units,
            wall_ms: shared::timing::ms(usage.wall),
            per_unit_us: usage.wall.as_secs_f64() * 1e6 / units.max(1) as f64,
        };
        let ((), threads) = measure(|| super::start_threads(units));
        let (done, processes) = measure(|| super::start_processes(units, exe));
        done?;
        Ok([
            row("thread_start", threads),
            row("process_start", processes),
        ])
    }

    /// How much this process's anonymous memory grew, in KiB, while `units` threads were alive
    /// at once (each waits until all have started, then until the reading is done). None
    /// without Linux's `/proc`.
    pub fn threads_alive_kb(units: u64) -> Option<u64> {
        let before = anon_memory_kb()?;
        let barrier = Barrier::new(units as usize + 1);
        let during = std::thread::scope(|scope| {
            for _ in 0..units {
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
        Some(during.saturating_sub(before))
    }

    /// One thread's memory (`threads` alive at once) beside the memory of a fresh child process
    /// (its own report). None without Linux's `/proc`.
    pub fn footprint(threads: u64, child: &ChildReport) -> Option<[Footprint; 2]> {
        let threads_kb = threads_alive_kb(threads)?;
        Some([
            Footprint {
                name: "thread_memory",
                units: threads,
                kb_per_unit: ratio(threads_kb as f64, threads as f64),
            },
            Footprint {
                name: "process_memory",
                units: 1,
                kb_per_unit: child.anon_kb? as f64,
            },
        ])
    }

    /// Runs the demo with its narration.
    pub fn run(sizes: &Sizes, exe: &SelfExe, narrator: &Narrator) -> anyhow::Result<()> {
        narrator.header(
            SECTION,
            "Processes, threads, multithreading and multiprocessing",
            "A process has its own memory and at least one thread; its threads share that memory, \
             a child process gets a new pid and a memory of its own. A thread is a lighter-weight \
             process.",
        );
        let threads = thread_count().map_or(
            "an unknown number of threads (needs Linux /proc)".into(),
            |n| plural(n, "thread", "threads"),
        );
        narrator.say(format!(
            "This process: pid {}, {threads} right now, running on thread '{}' (os id {}).",
            std::process::id(),
            std::thread::current().name().unwrap_or("unnamed"),
            os_thread_id()
        ));
        let thread_hello = Greeting::new("thread_hello", super::hello_from_a_thread());
        narrator.say(format!(
            "A spawned thread says hello: I am os thread {}, in pid {} (the process has {} while \
             I run).",
            thread_hello.thread_id,
            thread_hello.pid,
            thread_hello
                .threads
                .map_or("? threads".into(), |n| plural(n, "thread", "threads"))
        ));
        let child = super::hello_from_a_child(exe)?.report;
        let child_hello = Greeting::new("child_hello", (child.thread_id, child.pid, child.threads));
        let parent = child
            .parent_pid
            .map_or("unknown here (Unix only)".into(), |p| p.to_string());
        narrator.say(format!(
            "A child process says hello: I am pid {}, my parent is pid {parent}; I have {}, and \
             the one answering is os thread {}.\n\n",
            child.pid,
            child
                .threads
                .map_or("? threads".into(), |n| plural(n, "thread", "threads")),
            child.thread_id
        ));

        let increments = sizes.increments;
        narrator.say(format!(
            "Memory: {WORKERS} threads each count to {increments} and add it to one counter this \
             process owns; then this process sets a counter to {PARENT_START} and {WORKERS} \
             child processes, forked from it, each start with a copy of its memory, counter \
             included, and do the same in their copy."
        ));
        let recording = Recording::start();
        let (by_threads, usage) = measure(|| super::threads_share(increments));
        let threads_row = Memory::new("threads", &by_threads, usage, recording.finish());
        let before = children_cpu_time();
        let (by_processes, mut usage) = measure(|| super::processes_copy(PARENT_START, increments));
        usage.cpu += children_cpu_time().saturating_sub(before);
        let by_processes = by_processes?;
        // A forked child may not record spans (see `child::fork`): the timeline has the threads.
        let processes_row = Memory::new("processes", &by_processes, usage, Vec::new());

        narrator.say(format!(
            "Start-up: {START_UNITS} threads that do nothing, then {START_UNITS} child processes \
             that do nothing, each started and waited for before the next. Memory: \
             {FOOTPRINT_THREADS} threads alive at once, beside the child that said hello.\n\n"
        ));
        let recording = Recording::start();
        let progress =
            narrator.progress(&recording, "starting threads and processes", "start", None);
        let starts = measure_start(START_UNITS, exe);
        drop(progress);
        drop(recording);
        let [thread_start, process_start] = starts?;
        let footprints = footprint(FOOTPRINT_THREADS, &child);

        if narrator.json() {
            let mut rows = vec![
                Row::Memory(&threads_row),
                Row::Memory(&processes_row),
                Row::Start(&thread_start),
                Row::Start(&process_start),
                Row::Greeting(&thread_hello),
                Row::Greeting(&child_hello),
            ];
            rows.extend(footprints.iter().flatten().map(Row::Footprint));
            narrator.report(&Report::new(DEMO, SECTION, rows));
        } else {
            narrator.report(&Report::new(
                DEMO,
                SECTION,
                vec![&thread_hello, &child_hello],
            ));
            narrator.report(&Report::new(
                DEMO,
                SECTION,
                vec![&threads_row, &processes_row],
            ));
            narrator.report(&Report::new(
                DEMO,
                SECTION,
                vec![&thread_start, &process_start],
            ));
            if let Some(rows) = &footprints {
                narrator.report(&Report::new(DEMO, SECTION, rows.iter().collect()));
            }
        }
        narrator.timeline("the counting threads, both in this pid", &threads_row.spans);

        let mut lines = Vec::new();
        if child_hello.threads == Some(1) && child_hello.main_thread == 1 {
            lines.push(format!(
                "The fresh child process had exactly 1 thread, and its id was the child's pid \
                 ({}): a process starts with its main thread. The thread we spawned had id {}, \
                 not our pid {}.",
                child_hello.pid,
                thread_hello.thread_id,
                std::process::id()
            ));
        }
        lines.push(if by_threads.shared_memory() {
            format!(
                "The threads ran in this process (pid {}) and the parent's counter shows all {} \
                 of their increments: threads share memory.",
                std::process::id(),
                by_threads.parent_sees
            )
        } else {
            format!(
                "The threads counted {} but the parent's counter says {}.",
                by_threads.workers_counted, by_threads.parent_sees
            )
        });
        lines.push(if by_processes.private_memory() {
            format!(
                "The child processes (pids {:?}) started from a copy of the parent's counter \
                 ({PARENT_START}) and each read {} after adding to it, while the parent's counter \
                 still says {}: a process's memory is private, so results come back as messages \
                 (here: a pipe).",
                by_processes.worker_pids, by_processes.workers_saw, by_processes.parent_sees
            )
        } else {
            format!(
                "The child processes read at most {} from their counter and the parent's says {}.",
                by_processes.workers_saw, by_processes.parent_sees
            )
        });
        let faster = if process_start.per_unit_us > thread_start.per_unit_us {
            format!(
                "a thread was {} faster to start here",
                times(process_start.per_unit_us, thread_start.per_unit_us)
            )
        } else {
            "here a process was not slower to start".into()
        };
        lines.push(format!(
            "A thread started and finished in {} on average, a process in {}: {faster}.",
            human_ms(thread_start.per_unit_us / 1e3),
            human_ms(process_start.per_unit_us / 1e3)
        ));
        if let Some([threads, process]) = &footprints {
            lines.push(format!(
                "With {} alive, each held {:.1} KiB of memory of its own (its stack, mostly); the \
                 fresh child process held {:.0} KiB: {} as much. (The kernel's own bookkeeping \
                 for each is not counted.)",
                plural(threads.units, "thread", "threads"),
                threads.kb_per_unit,
                process.kb_per_unit,
                times(process.kb_per_unit, threads.kb_per_unit)
            ));
        }
        narrator.summary(SECTION, &lines);
        Ok(())
    }
}
