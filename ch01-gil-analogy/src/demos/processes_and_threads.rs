//! Section 1.4: processes and threads. A process has a private memory and at least one thread
//! (the main thread); threads it starts share that memory; a child process gets its own pid and
//! its own memory, so what it changes stays there.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use shared::legacy::narrate::Narrator;
use shared::legacy::report::Measurement;
use shared::legacy::spans::os_thread_id;
use shared::legacy::{DemoReport, SpanKind, SpanRecorder};
use shared::timing::measure;

use crate::Sizes;
use crate::child::{ChildJob, SelfExe, children_cpu_time};

/// How many threads and how many child processes count.
pub const WORKERS: u64 = 2;

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

/// Threads increment one counter the parent owns (shared through an `Arc`).
///
/// ```
/// use ch01_gil_analogy::demos::processes_and_threads::threads_share;
/// let sharing = threads_share(100, &shared::legacy::SpanRecorder::new());
/// assert!(sharing.shared_memory() && !sharing.pid_differs());
/// ```
pub fn threads_share(increments: u64, recorder: &SpanRecorder) -> Sharing {
    // An Arc, as a learner would write it with `std::thread::spawn`: every thread holds a
    // pointer to the one counter the parent owns.
    let counter = Arc::new(AtomicU64::new(0));
    let reports: Vec<(u32, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=WORKERS)
            .map(|t| {
                let counter = Arc::clone(&counter);
                let name = format!("thread {t}");
                std::thread::Builder::new()
                    .name(name.clone())
                    .spawn_scoped(scope, move || {
                        recorder.in_span(name, SpanKind::Cpu, || {
                            for _ in 0..increments {
                                counter.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                        (std::process::id(), increments)
                    })
                    .expect("the OS refused to start a thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a counting thread panicked"))
            .collect()
    });
    Sharing {
        worker_pids: reports.iter().map(|&(pid, _)| pid).collect(),
        workers_counted: reports.iter().map(|&(_, counted)| counted).sum(),
        parent_sees: counter.load(Ordering::SeqCst),
    }
}

/// Child processes increment their own copy of the parent's counter (passed to them as its
/// starting value, as `multiprocessing` copies arguments); the parent's stays as it was.
pub fn processes_copy(
    increments: u64,
    exe: &SelfExe,
    recorder: &SpanRecorder,
) -> anyhow::Result<Sharing> {
    let counter = AtomicU64::new(0);
    let start = counter.load(Ordering::SeqCst);
    let children = (0..WORKERS)
        .map(|_| {
            exe.spawn(ChildJob::Increment {
                start,
                times: increments,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut sharing = Sharing {
        worker_pids: Vec::new(),
        workers_counted: 0,
        parent_sees: 0,
    };
    for child in children {
        let report = child.wait(recorder)?;
        sharing.worker_pids.push(report.pid);
        sharing.workers_counted += report.value - start;
    }
    sharing.parent_sees = counter.load(Ordering::SeqCst);
    Ok(sharing)
}

/// The `processes-and-threads` demo.
pub fn run(narrator: &Narrator, sizes: &Sizes, exe: &SelfExe) -> anyhow::Result<DemoReport> {
    narrator.header(
        "1.4",
        "Processes, threads, multithreading and multiprocessing",
        "A process has its own memory and at least one thread; its threads share that memory,\n\
         a child process gets a new pid and a memory of its own.",
    );
    let me = std::thread::current();
    let threads = thread_count().map_or("unknown (needs Linux /proc)".into(), |n| n.to_string());
    narrator.say(format!(
        "This process: pid {}, {threads} thread(s) right now, running on thread '{}' (os id {}).",
        std::process::id(),
        me.name().unwrap_or("unnamed"),
        os_thread_id()
    ));
    let hello = std::thread::Builder::new()
        .name("hello-thread".into())
        .spawn(|| {
            let during = thread_count();
            (os_thread_id(), std::process::id(), during)
        })?
        .join()
        .expect("the hello thread panicked");
    narrator.say(format!(
        "A spawned thread says hello: I am 'hello-thread', os id {}, in pid {} \
         (the process has {} threads while I run).",
        hello.0,
        hello.1,
        hello.2.map_or("?".into(), |n| n.to_string())
    ));
    let child = exe.run(ChildJob::Hello, &SpanRecorder::new())?;
    narrator.say(format!(
        "A child process says hello: I am pid {}, my parent is pid {}.\n",
        child.pid, child.parent_pid
    ));

    let increments = sizes.increments;
    narrator.say(format!(
        "Memory: {WORKERS} threads, then {WORKERS} child processes, each add 1 to 'the' counter \
         {increments} times."
    ));
    let recorder = SpanRecorder::new();
    let progress = narrator.progress("counting in threads and processes", Some(2));
    let (by_threads, threads_usage) = measure(|| threads_share(increments, &recorder));
    progress.inc();
    let children_cpu_before = children_cpu_time();
    let (by_processes, mut processes_usage) =
        measure(|| processes_copy(increments, exe, &recorder));
    // The children's CPU time is not in this process's clock: add it.
    processes_usage.cpu += children_cpu_time().saturating_sub(children_cpu_before);
    let by_processes = by_processes?;
    drop(progress);

    let mut report = DemoReport::new("processes-and-threads", "1.4");
    for (name, sharing, usage) in [
        ("threads", &by_threads, threads_usage),
        ("processes", &by_processes, processes_usage),
    ] {
        report.push(
            Measurement::from_usage(name, usage)
                .field("pid_differs", u8::from(sharing.pid_differs()))
                .field("shared_memory", u8::from(sharing.shared_memory()))
                .field("workers_counted", sharing.workers_counted as f64)
                .field("parent_sees", sharing.parent_sees as f64),
        );
    }
    narrator.report(&report, None);
    narrator.timeline(
        "threads (in this pid) and child processes (their own pids)",
        &recorder.spans(),
    );
    let threads_line = format!(
        "The threads ran in this process (pid {}) and the parent's counter shows all {} of \
         their increments: threads share memory.",
        std::process::id(),
        by_threads.parent_sees
    );
    let processes_line = format!(
        "The child processes had pids {:?}, counted {} in their own copies, and the parent's \
         counter still says {}: a process's memory is private.",
        by_processes.worker_pids, by_processes.workers_counted, by_processes.parent_sees
    );
    narrator.summary(
        "1.4",
        &[
            &threads_line,
            &processes_line,
            "So threads need care with shared data; processes need a way to send results back \
             (here: JSON lines on the child's standard output).",
        ],
    );
    Ok(report)
}
