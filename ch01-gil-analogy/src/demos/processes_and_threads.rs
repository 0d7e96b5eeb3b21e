//! Section 1.4: processes and threads. A process has a private memory and at least one thread
//! (the main thread); threads it starts share that memory; a child process gets its own pid and
//! its own memory, so what it changes stays there. A thread is a lighter-weight process: it
//! starts faster and takes less memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use shared::child::{Finished, SelfExe};
use tracing::info_span;

use crate::child::{Hello, Job};

// ---- the lesson: pids and threads, a child process, who sees whose memory ----
/// Listings 1.2/1.3: a new thread reports its own thread id, but its process's pid.
pub fn hello_from_a_thread() -> Hello {
    std::thread::spawn(Hello::here)
        .join()
        .expect("the hello thread panicked")
}

/// Listing 1.4: a child process (this program, started again) reports its own pid and ours, its
/// thread count and the id of the thread that answered: its main thread.
pub fn hello_from_a_child(exe: &SelfExe) -> anyhow::Result<Finished<Hello>> {
    exe.run(&Job::Hello)
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

pub use measuring::{
    FOOTPRINT_THREADS, Footprint, Greeting, Memory, Sharing, Start, WORKERS, count_in_a_copy,
    footprint, measure_start, run, threads_alive_kb,
};

/// Without `fork` there is no child that starts from a copy of this memory.
// mutants: a mutant of this body is never compiled on Unix, so no Unix test can see it.
#[cfg(not(unix))]
pub fn processes_copy(_start: u64, _increments: u64) -> anyhow::Result<Sharing> {
    anyhow::bail!("the private-memory experiment forks a child, which needs Unix")
}

mod measuring {
    use std::hint::black_box;
    use std::sync::Barrier;

    use serde::Serialize;
    use serde_json::{Value, to_value};
    use shared::narrate::{plural, times};
    use shared::timing::{children_cpu_time, human_ms, measure, ms, os_thread_id, ratio};
    use shared::{Narrator, Report, Span, Usage};

    use crate::child::{Hello, Job, anon_memory_kb, thread_count};
    use crate::cli::Sizes;
    use shared::child::SelfExe;

    const DEMO: &str = "processes-and-threads";
    const SECTION: &str = "1.4";
    /// Where the parent sets its counter before forking: a child that reads it back plus its
    /// own count started from a copy of the parent's memory.
    const PARENT_START: u64 = 1000;
    /// How many threads, then processes, the start-up rows start.
    const START_UNITS: u64 = 100;
    /// How many threads are alive at once when one thread's memory is measured: enough that a
    /// few pages allocated by something else hardly move the figure per thread.
    pub const FOOTPRINT_THREADS: u64 = 100;
    /// How many threads and how many child processes count.
    pub const WORKERS: u64 = 2;

    /// Adds 1 to a private copy of a counter `times` times and returns the copy. Threads and
    /// child processes do exactly this same work.
    pub fn count_in_a_copy(start: u64, times: u64) -> u64 {
        let mut copy = start;
        for _ in 0..times {
            // black_box: count one by one, as written, instead of letting the compiler add `times`.
            copy = black_box(copy + 1);
        }
        copy
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
        pub(super) fn new(answers: Vec<(u32, u64, u64)>, parent_sees: u64) -> Self {
            Self {
                worker_pids: answers.iter().map(|&(pid, _, _)| pid).collect(),
                workers_counted: answers.iter().map(|&(_, counted, _)| counted).sum(),
                workers_saw: answers.iter().map(|&(_, _, saw)| saw).max().unwrap_or(0),
                parent_sees,
            }
        }

        /// True if any worker ran in another process.
        pub fn pid_differs(&self) -> bool {
            self.worker_pids
                .iter()
                .any(|&pid| pid != std::process::id())
        }

        /// True if the parent saw every worker's increments in its own counter.
        pub fn shared_memory(&self) -> bool {
            self.workers_counted > 0 && self.parent_sees == self.workers_counted
        }

        /// True if a worker read a value from its counter that the parent's counter never
        /// shows: it changed a copy of its own.
        pub fn private_memory(&self) -> bool {
            self.workers_saw > self.parent_sees
        }
    }

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
        fn new(name: &'static str, hello: &Hello) -> Self {
            Self {
                name,
                pid: hello.pid,
                thread_id: hello.thread_id,
                threads: hello.threads,
                same_pid: u8::from(hello.pid == std::process::id()),
                main_thread: u8::from(hello.thread_id == u64::from(hello.pid)),
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
    }

    impl Memory {
        fn new(name: &'static str, sharing: &Sharing, usage: Usage) -> Self {
            Self {
                name,
                wall_ms: ms(usage.wall),
                cpu_ms: ms(usage.cpu),
                pid_differs: u8::from(sharing.pid_differs()),
                shared_memory: u8::from(sharing.shared_memory()),
                private_memory: u8::from(sharing.private_memory()),
                workers_counted: sharing.workers_counted,
                workers_saw: sharing.workers_saw,
                parent_sees: sharing.parent_sees,
                // Without getrusage there is no reading of the children's CPU time.
                note: (name == "processes" && cfg!(not(unix)))
                    .then(|| "cpu leaves out the child processes on this platform".into()),
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

    impl Start {
        fn new(name: &'static str, units: u64, usage: Usage) -> Self {
            Self {
                name,
                units,
                wall_ms: ms(usage.wall),
                per_unit_us: ratio(usage.wall.as_secs_f64() * 1e6, units as f64),
            }
        }
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

    /// Starts `units` threads that do nothing, then `units` child processes that do nothing,
    /// each joined or waited for before the next, and measures both.
    pub fn measure_start(units: u64, exe: &SelfExe) -> anyhow::Result<[Start; 2]> {
        let ((), threads) = measure(|| {
            for _ in 0..units {
                std::thread::spawn(|| ()).join().expect("an empty thread");
            }
        });
        let (done, processes) =
            measure(|| (0..units).try_for_each(|_| exe.run::<Value>(&Job::Nothing).map(drop)));
        done?;
        Ok([
            Start::new("thread_start", units, threads),
            Start::new("process_start", units, processes),
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
    pub fn footprint(threads: u64, child: &Hello) -> Option<[Footprint; 2]> {
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
    pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
        let exe = SelfExe::current()?;
        narrator.header(
            SECTION,
            "Processes, threads, multithreading and multiprocessing",
            "A process has its own memory and at least one thread; its threads share that memory, \
             a child process gets a new pid and a memory of its own. A thread is a lighter-weight \
             process.",
        );
        let threads =
            |n: Option<u64>| n.map_or("? threads".into(), |n| plural(n, "thread", "threads"));
        narrator.say(format!(
            "This process: pid {}, {} right now, running on thread '{}' (os id {}).",
            std::process::id(),
            threads(thread_count()),
            std::thread::current().name().unwrap_or("unnamed"),
            os_thread_id()
        ));
        let thread_hello = Greeting::new("thread_hello", &super::hello_from_a_thread());
        narrator.say(format!(
            "A spawned thread says hello: I am os thread {}, in pid {} (the process has {} while \
             I run).",
            thread_hello.thread_id,
            thread_hello.pid,
            threads(thread_hello.threads)
        ));
        let child = super::hello_from_a_child(&exe)?.result;
        let child_hello = Greeting::new("child_hello", &child);
        let parent = child
            .parent_pid
            .map_or("unknown here (Unix only)".into(), |p| p.to_string());
        narrator.say(format!(
            "A child process says hello: I am pid {}, my parent is pid {parent}; I have {}, and \
             the one answering is os thread {}.\n\n",
            child.pid,
            threads(child.threads),
            child.thread_id
        ));

        let increments = sizes.increments;
        narrator.say(format!(
            "Memory: {WORKERS} threads each count to {increments} and add it to one counter this \
             process owns; then this process sets a counter to {PARENT_START} and {WORKERS} \
             child processes, forked from it, each start with a copy of its memory, counter \
             included, and do the same in their copy."
        ));
        let ((by_threads, usage), spans): (_, Vec<Span>) =
            narrator.record("counting in threads", "thread", Some(WORKERS), || {
                measure(|| super::threads_share(increments))
            });
        let threads_row = Memory::new("threads", &by_threads, usage);
        let before = children_cpu_time();
        let (by_processes, mut usage) = measure(|| super::processes_copy(PARENT_START, increments));
        usage.cpu += children_cpu_time().saturating_sub(before);
        let by_processes = by_processes?;
        // A forked child may not record spans (see `child::fork`): the timeline has the threads.
        let processes_row = Memory::new("processes", &by_processes, usage);

        narrator.say(format!(
            "Start-up: {START_UNITS} threads that do nothing, then {START_UNITS} child processes \
             that do nothing, each started and waited for before the next. Memory: \
             {FOOTPRINT_THREADS} threads alive at once, beside the child that said hello.\n\n"
        ));
        let (starts, _) = narrator.record("starting threads and processes", "", None, || {
            measure_start(START_UNITS, &exe)
        });
        let [thread_start, process_start] = starts?;
        let footprints = footprint(FOOTPRINT_THREADS, &child);

        let tables: Vec<Vec<Value>> = vec![
            vec![to_value(&thread_hello)?, to_value(&child_hello)?],
            vec![to_value(&threads_row)?, to_value(&processes_row)?],
            vec![to_value(&thread_start)?, to_value(&process_start)?],
            footprints
                .iter()
                .flatten()
                .map(to_value)
                .collect::<Result<_, _>>()?,
        ];
        if narrator.json() {
            // One line: the rows in the order scripts have always read them.
            let [hellos, memory, starts, footprints] =
                <[Vec<Value>; 4]>::try_from(tables).map_err(|_| anyhow::anyhow!("four tables"))?;
            let rows = [memory, starts, hellos, footprints].concat();
            narrator.report(&Report::new(DEMO, SECTION, rows));
        } else {
            for rows in tables.into_iter().filter(|rows| !rows.is_empty()) {
                narrator.report(&Report::new(DEMO, SECTION, rows));
            }
        }
        narrator.timeline("the counting threads, both in this pid", &spans);

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
        lines.push(start_line("", &thread_start, &process_start));
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

    /// What a pair of start-up rows shows, true to its numbers.
    fn start_line(who: &str, thread: &Start, process: &Start) -> String {
        let faster = if process.per_unit_us > thread.per_unit_us {
            format!(
                "a thread was {} faster to start here",
                times(process.per_unit_us, thread.per_unit_us)
            )
        } else {
            "here a process was not slower to start".into()
        };
        format!(
            "A{who} thread started and finished in {} on average, a{who} process in {}: {faster}.",
            human_ms(thread.per_unit_us / 1e3),
            human_ms(process.per_unit_us / 1e3)
        )
    }
}
