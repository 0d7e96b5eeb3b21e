//! Section 1.4: processes and threads. A process has a private memory and at least one thread
//! (the main thread); threads it starts share that memory; a child process gets its own pid and
//! its own memory, so what it changes stays there. A thread is a lighter-weight process: it
//! starts faster.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use shared::timing::os_thread_id;
use tracing::info_span;

use crate::child::{ChildJob, ChildOutput, SelfExe};

// ---- the lesson: pids and threads, a child process, who sees whose memory ----

/// What a thread says about itself: its OS thread id, its pid, and how many threads its process
/// has while it runs.
pub type Hello = (u64, u32, Option<u64>);

/// Listings 1.2/1.3: a new thread reports its own thread id, but its process's pid.
pub fn hello_from_a_thread() -> Hello {
    std::thread::spawn(|| (os_thread_id(), std::process::id(), thread_count()))
        .join()
        .expect("the hello thread panicked")
}

/// Listing 1.4: a child process (this program, started again) reports its own pid and ours.
pub fn hello_from_a_child(exe: &SelfExe) -> anyhow::Result<ChildOutput> {
    exe.run(ChildJob::Hello)
}

/// The number of threads of this process, from `/proc/self/status` (Linux only).
///
/// ```
/// # #[cfg(target_os = "linux")]
/// assert!(ch01_gil_analogy::demos::processes_and_threads::thread_count().unwrap() >= 1);
/// ```
pub fn thread_count() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|count| count.trim().parse().ok())
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

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

/// Threads count, then add what they counted to one counter the parent owns (shared through an
/// `Arc`): the parent sees it.
pub fn threads_share(increments: u64) -> Sharing {
    let counter = Arc::new(AtomicU64::new(0));
    let pids: Vec<u32> = std::thread::scope(|scope| {
        let threads: Vec<_> = (1..=WORKERS)
            .map(|t| {
                let counter = Arc::clone(&counter);
                scope.spawn(move || {
                    info_span!("thread", t).in_scope(|| {
                        counter.fetch_add(count_in_a_copy(0, increments), Ordering::SeqCst)
                    });
                    std::process::id()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("a counting thread panicked"))
            .collect()
    });
    Sharing {
        worker_pids: pids,
        workers_counted: WORKERS * increments,
        parent_sees: counter.load(Ordering::SeqCst),
    }
}

/// Child processes count in their own copy of the parent's counter (its value passed on their
/// command line, as `multiprocessing` copies arguments); the parent's stays as it was.
pub fn processes_copy(
    increments: u64,
    exe: &SelfExe,
) -> anyhow::Result<(Sharing, Vec<ChildOutput>)> {
    let counter = AtomicU64::new(0);
    let start = counter.load(Ordering::SeqCst);
    let job = ChildJob::Increment {
        start,
        times: increments,
    };
    let children: Vec<_> = (0..WORKERS)
        .map(|_| exe.spawn(job))
        .collect::<Result<_, _>>()?;
    let outputs: Vec<ChildOutput> = children
        .into_iter()
        .map(|child| child.wait())
        .collect::<Result<_, _>>()?;
    let sharing = Sharing {
        worker_pids: outputs.iter().map(|o| o.report.pid).collect(),
        workers_counted: outputs.iter().map(|o| o.report.value - start).sum(),
        parent_sees: counter.load(Ordering::SeqCst),
    };
    Ok((sharing, outputs))
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
    /// The sum of what each worker counted.
    pub workers_counted: u64,
    /// The parent's counter afterwards.
    pub parent_sees: u64,
}

impl Sharing {
    /// True if any worker ran in another process.
    ///
    /// ```
    /// use ch01_gil_analogy::demos::processes_and_threads::Sharing;
    /// let s = Sharing { worker_pids: vec![std::process::id()], workers_counted: 2, parent_sees: 2 };
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
    /// let s = Sharing { worker_pids: vec![1], workers_counted: 2, parent_sees: 0 };
    /// assert!(!s.shared_memory());
    /// ```
    pub fn shared_memory(&self) -> bool {
        self.workers_counted > 0 && self.parent_sees == self.workers_counted
    }
}

// ---- measuring it ----

pub use measuring::{Memory, Start, measure_start, run};

mod measuring {
    use serde::Serialize;
    use shared::timing::{human_ms, measure, os_thread_id, ratio};
    use shared::{Narrator, Recording, Report, Span, Usage};

    use super::{Sharing, WORKERS};
    use crate::Sizes;
    use crate::child::{SelfExe, children_cpu_time};

    const DEMO: &str = "processes-and-threads";
    const SECTION: &str = "1.4";
    /// How many threads, then processes, the start-up rows start.
    pub const START_UNITS: u64 = 100;

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
        /// What the workers counted together.
        pub workers_counted: u64,
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
                wall_ms: usage.wall.as_secs_f64() * 1e3,
                cpu_ms: usage.cpu.as_secs_f64() * 1e3,
                pid_differs: u8::from(sharing.pid_differs()),
                shared_memory: u8::from(sharing.shared_memory()),
                workers_counted: sharing.workers_counted,
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

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Row<'a> {
        Memory(&'a Memory),
        Start(&'a Start),
    }

    /// Starts `units` threads, then `units` processes, and measures both.
    pub fn measure_start(units: u64, exe: &SelfExe) -> anyhow::Result<[Start; 2]> {
        let row = |name, usage: Usage| Start {
            name,
            units,
            wall_ms: usage.wall.as_secs_f64() * 1e3,
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

    /// Runs the demo with its narration.
    pub fn run(sizes: &Sizes, exe: &SelfExe, narrator: &Narrator) -> anyhow::Result<()> {
        narrator.header(
            SECTION,
            "Processes, threads, multithreading and multiprocessing",
            "A process has its own memory and at least one thread; its threads share that memory, \
             a child process gets a new pid and a memory of its own. A thread is a lighter-weight \
             process.",
        );
        let threads =
            super::thread_count().map_or("unknown (needs Linux /proc)".into(), |n| n.to_string());
        narrator.say(format!(
            "This process: pid {}, {threads} thread(s) right now, running on thread '{}' (os id {}).",
            std::process::id(),
            std::thread::current().name().unwrap_or("unnamed"),
            os_thread_id()
        ));
        let (tid, pid, during) = super::hello_from_a_thread();
        narrator.say(format!(
            "A spawned thread says hello: I am os thread {tid}, in pid {pid} (the process has {} \
             threads while I run).",
            during.map_or("?".into(), |n| n.to_string())
        ));
        let child = super::hello_from_a_child(exe)?.report;
        let parent = child
            .parent_pid
            .map_or("unknown here (Unix only)".into(), |p| p.to_string());
        narrator.say(format!(
            "A child process says hello: I am pid {}, my parent is pid {parent}.\n\n",
            child.pid
        ));

        let increments = sizes.increments;
        narrator.say(format!(
            "Memory: {WORKERS} threads, then {WORKERS} child processes, each count to {increments} \
             in a copy of their own and add it to 'the' counter."
        ));
        let recording = Recording::start();
        let (by_threads, usage) = measure(|| super::threads_share(increments));
        let threads_row = Memory::new("threads", &by_threads, usage, recording.finish());
        let before = children_cpu_time();
        let (by_processes, mut usage) = measure(|| super::processes_copy(increments, exe));
        usage.cpu += children_cpu_time().saturating_sub(before);
        let (by_processes, children) = by_processes?;
        let spans = children.into_iter().flat_map(|c| c.spans).collect();
        let processes_row = Memory::new("processes", &by_processes, usage, spans);

        narrator.say(format!(
            "Start-up: {START_UNITS} threads that do nothing, then {START_UNITS} child processes \
             that do nothing, each started and waited for before the next.\n\n"
        ));
        let recording = Recording::start();
        let progress =
            narrator.progress(&recording, "starting threads and processes", "start", None);
        let starts = measure_start(START_UNITS, exe);
        drop(progress);
        drop(recording);
        let [thread_start, process_start] = starts?;

        if narrator.json() {
            let rows = vec![
                Row::Memory(&threads_row),
                Row::Memory(&processes_row),
                Row::Start(&thread_start),
                Row::Start(&process_start),
            ];
            narrator.report(&Report::new(DEMO, SECTION, rows));
        } else {
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
        }
        let mut spans = threads_row.spans.clone();
        spans.extend(processes_row.spans.iter().cloned());
        narrator.timeline(
            "threads (in this pid) and child processes (their own pids)",
            &spans,
        );

        let lighter = ratio(process_start.per_unit_us, thread_start.per_unit_us);
        narrator.summary(
            SECTION,
            &[
                format!(
                    "The threads ran in this process (pid {}) and the parent's counter shows all \
                     {} of their increments: threads share memory.",
                    std::process::id(),
                    by_threads.parent_sees
                ),
                format!(
                    "The child processes had pids {:?}, counted {} in their own copies, and the \
                     parent's counter still says {}: a process's memory is private, so results \
                     come back as messages (here: JSON lines on the child's standard output).",
                    by_processes.worker_pids,
                    by_processes.workers_counted,
                    by_processes.parent_sees
                ),
                format!(
                    "Both did the same counting, so the wall times differ mostly by start-up: a \
                     thread started and finished in {} on average, a process in {}. A thread was \
                     {lighter:.0} times lighter here.",
                    human_ms(thread_start.per_unit_us / 1e3),
                    human_ms(process_start.per_unit_us / 1e3)
                ),
            ],
        );
        Ok(())
    }
}
