//! Section 1.5: "when we use asyncio, we create coroutines; they can be thought of as executing a
//! lightweight thread". N units each sleep 1 s, all at once: first as N OS threads, then as N
//! tokio tasks on one thread. Each way runs in a fresh child process, so the memory it reports is
//! its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shared::child::{Finished, SelfExe};
use shared::narrate::{plural, record, times};
use shared::python::{Python, Script};
use shared::timing::{Stopwatch, human, human_ms, ms, peak_rss_kb, ratio, thread_cpu_time};
use shared::{Narrator, Report, Span};
use tokio::runtime::Builder;
use tokio::time::sleep;

use crate::child::{Job, thread_count};
use crate::cli::Sizes;
use crate::thread_cap::ThreadCap;

// ---- the lesson: N sleepers as threads, then as tasks ----

/// How long every unit sleeps.
pub const NAP: Duration = Duration::from_secs(1);

/// Threads that have begun to run: a thread's start-up, part of its cost, runs in the new thread.
static STARTED: AtomicU64 = AtomicU64::new(0);

/// N OS threads, each sleeping `NAP`: every one has its own stack and is scheduled by the OS.
/// Stops at the first thread the OS refuses, and returns the threads started with that error.
pub fn spawn_threads(units: u64) -> (Vec<std::thread::JoinHandle<()>>, Option<std::io::Error>) {
    let mut threads = Vec::new();
    for _ in 0..units {
        let nap = || {
            STARTED.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(NAP)
        };
        match std::thread::Builder::new().spawn(nap) {
            Ok(thread) => threads.push(thread),
            Err(error) => return (threads, Some(error)),
        }
    }
    (threads, None)
}

/// N tokio tasks, each sleeping `NAP` (asyncio's `create_task(asyncio.sleep(1))`): a task is a
/// future and a small header on the heap, and all of them share the runtime's one thread.
pub fn spawn_tasks(units: u64) -> Vec<tokio::task::JoinHandle<()>> {
    (0..units).map(|_| tokio::spawn(sleep(NAP))).collect()
}

// ---- measuring it ----

/// The demo's name on the command line and in its report.
pub const DEMO: &str = "coroutines";
const SECTION: &str = "1.5";

/// N units sleeping at once, one way, measured inside its own child process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sleepers {
    /// `os_threads` or `tokio_tasks`.
    pub name: String,
    /// How many units slept at once.
    pub units: u64,
    /// From the first spawn until every unit was done.
    pub wall_ms: f64,
    /// The child process's peak resident memory.
    pub peak_rss_kb: u64,
    /// How much the peak grew per unit over the process's own start.
    pub bytes_per_unit: f64,
    /// Time to create one unit, in microseconds.
    pub spawn_us_per_unit: f64,
    /// CPU µs to create one (a thread's own start-up too): unlike wall time, deaf to a busy CPU.
    pub spawn_cpu_us_per_unit: f64,
    /// OS threads while the units slept (CPython: each that ran a unit, and main, as they ran).
    pub threads_used: u64,
    /// Why fewer units ran than asked for, when they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Runs in the child: the units as OS threads (`as_threads`) or tokio tasks, measured from
/// inside. Each way first makes one unit alone, so that what the first one sets up (thread-local
/// state, the allocator's bookkeeping; the runtime and its timer) is paid once, not per unit.
pub fn in_child(as_threads: bool, units: u64) -> anyhow::Result<Sleepers> {
    let (before_kb, watch, mut spawned, threads_used, ran, mut notes);
    if as_threads {
        let first = std::thread::spawn(|| ()).join();
        first.map_err(|_| anyhow::anyhow!("an empty thread panicked"))?;
        (before_kb, watch) = (peak_rss_kb(), Stopwatch::start());
        let (threads, refused) = spawn_threads(units);
        (spawned, ran) = (watch.usage(), threads.len() as u64);
        threads_used = thread_count().unwrap_or(ran + 1);
        // Each thread's own start-up counts, whenever a busy machine gets round to it; this
        // thread's CPU while it waits for them does not.
        let waiting = thread_cpu_time();
        while STARTED.load(Ordering::SeqCst) < ran {
            std::thread::sleep(Duration::from_millis(1));
        }
        let waited = thread_cpu_time() - waiting;
        spawned.cpu = watch.usage().cpu.saturating_sub(waited);
        for thread in threads {
            let slept = thread.join();
            slept.map_err(|_| anyhow::anyhow!("a sleeping thread panicked"))?;
        }
        notes = Vec::from_iter(refused.map(|e| format!("the OS refused thread {} ({e})", ran + 1)));
    } else {
        let runtime = Builder::new_current_thread().enable_time().build()?;
        (before_kb, watch, spawned, threads_used) = runtime.block_on(async {
            tokio::spawn(sleep(Duration::from_millis(1))).await?;
            let (before_kb, watch) = (peak_rss_kb(), Stopwatch::start());
            let tasks = spawn_tasks(units);
            let (spawned, threads_used) = (watch.usage(), thread_count().unwrap_or(1));
            for task in tasks {
                task.await.context("a sleeping task failed")?;
            }
            anyhow::Ok((before_kb, watch, spawned, threads_used))
        })?;
        (ran, notes) = (units, Vec::new());
    }
    // The main thread plus every unit would be `ran + 1`.
    if as_threads && threads_used <= ran {
        notes.push(format!(
            "starting them took {}, longer than a nap, so the first had finished before the \
             last started: {} alive at once",
            human(spawned.wall),
            plural(threads_used.saturating_sub(1), "thread was", "threads were")
        ));
    }
    let per_unit = |total: f64| ratio(total, ran as f64);
    let name = ["tokio_tasks", "os_threads"][usize::from(as_threads)];
    Ok(Sleepers {
        name: name.into(),
        units: ran,
        wall_ms: ms(watch.elapsed()),
        peak_rss_kb: peak_rss_kb(),
        bytes_per_unit: per_unit(peak_rss_kb().saturating_sub(before_kb) as f64 * 1024.0),
        spawn_us_per_unit: per_unit(spawned.wall.as_secs_f64() * 1e6),
        spawn_cpu_us_per_unit: per_unit(spawned.cpu.as_secs_f64() * 1e6),
        threads_used,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// The same sleepers in CPython: `asyncio_tasks` or `python_threads`.
const COROUTINES_PY: Script = Script::new("coroutines.py", include_str!("coroutines.py"));

/// `units` sleepers in CPython, as threads or as asyncio tasks, with their spans.
pub fn python_sleepers(
    python: &Python,
    threads: bool,
    units: u64,
) -> anyhow::Result<Finished<Sleepers>> {
    let way = if threads { "threads" } else { "tasks" };
    python.run(&COROUTINES_PY, &[way.to_string(), units.to_string()])
}

/// Runs `units` sleepers as threads (capped by `cap`), then as tasks, each way in a fresh child
/// process: this program, then `python` when given (whose spans are returned).
pub fn sleepers(
    units: u64,
    cap: &ThreadCap,
    python: Option<&Python>,
) -> anyhow::Result<(Vec<Sleepers>, Vec<Span>)> {
    let exe = SelfExe::current()?;
    let (mut rows, mut spans) = (Vec::new(), Vec::new());
    let ways = [
        ("os_threads", true),
        ("tokio_tasks", false),
        ("asyncio_tasks", false),
        ("python_threads", true),
    ];
    for (name, threads) in ways {
        let n = units.min(if threads { cap.max_threads } else { u64::MAX });
        let what = format!("{name}: {n} units sleeping");
        let job = Job::Sleepers { threads, units: n };
        let (finished, _) = record(&what, "unit", None, || match (name, python) {
            ("os_threads" | "tokio_tasks", _) => exe.run(&job).map(Some),
            (_, Some(python)) => python_sleepers(python, threads, n).map(Some),
            _ => Ok(None),
        });
        let Some(finished) = finished? else { continue };
        let mut row = finished.result;
        if threads && n < units {
            let capped = format!("capped from {units} to {n} threads: {}", cap.reason);
            let more = row.note.map(|more| format!("; {more}"));
            row.note = Some(capped + &more.unwrap_or_default());
        }
        rows.push(row);
        spans.extend(finished.spans);
    }
    Ok((rows, spans))
}

/// `sizes.units` sleepers each way, threads capped at what this machine allows.
pub fn measure(sizes: &Sizes) -> anyhow::Result<(Vec<Sleepers>, Vec<Span>)> {
    let python = shared::narrate::python();
    let cap = crate::thread_cap::cap(&crate::thread_cap::Limits::read());
    sleepers(sizes.units, &cap, python.as_ref())
}

// ---- narrating it ----

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "Coroutines: lightweight threads",
        "A coroutine (a tokio task, an asyncio task) can be thought of as a lightweight \
         thread: it waits like a thread, but costs far less to create and to keep.",
    );
    narrator.say(format!(
        "{} units each sleep {} at once, as OS threads and as tokio tasks on one thread, then in \
         CPython as asyncio tasks and threads; each way in a fresh process, its memory its own.\n\n",
        sizes.units,
        human(NAP)
    ));
    let (rows, spans) = measure(sizes)?;
    narrator.report(&Report::new(DEMO, SECTION, rows.iter().collect()));
    narrator.timeline("CPython: asyncio tasks, then threads", &spans);
    let mut lines = summary(&rows[0], &rows[1]);
    if let [_, _, tasks, threads] = &rows[..] {
        let in_python = summary(threads, tasks).into_iter();
        let lowered = |line: String| line[..1].to_lowercase() + &line[1..];
        lines.extend(in_python.map(|line| format!("In CPython, {}", lowered(line))));
    }
    narrator.summary(SECTION, &lines);
    Ok(())
}

/// What the two rows show, in sentences true to their numbers.
fn summary(threads: &Sleepers, tasks: &Sleepers) -> Vec<String> {
    let (thread_cpu, task_cpu) = (threads.spawn_cpu_us_per_unit, tasks.spawn_cpu_us_per_unit);
    let cpu = times(thread_cpu, task_cpu);
    let mut lines = vec![match thread_cpu > task_cpu {
        true => format!("Creating one: a thread cost {cpu} the CPU time of a task."),
        false => "Creating one: here a task was not cheaper in CPU time than a thread.".into(),
    }];
    let memory = times(threads.bytes_per_unit, tasks.bytes_per_unit);
    let memory = match (tasks.bytes_per_unit > 0.0, threads.bytes_per_unit > 0.0) {
        (true, true) => format!("a thread raised the peak memory {memory} as much as a task."),
        (false, true) => {
            "the tasks fit in pages the process already had; the threads did not.".into()
        }
        _ => "too few units to raise the peak memory by a page; more --units show it.".into(),
    };
    lines.push(format!(
        "Memory: {memory} All {} shared {}; the threads needed {}.",
        plural(tasks.units, "task", "tasks"),
        plural(tasks.threads_used, "OS thread", "OS threads"),
        plural(threads.threads_used, "OS thread", "OS threads")
    ));
    let nap_ms = ms(NAP);
    // At once: well under halfway to what one nap after another would take.
    let one_by_one_ms = |row: &Sleepers| nap_ms * row.units as f64;
    let at_once = |row: &Sleepers| row.wall_ms < nap_ms + (one_by_one_ms(row) - nap_ms) / 2.0;
    lines.push(match at_once(tasks) && at_once(threads) {
        true => format!(
            "Both ways slept at once: the tasks took {} in all, where one {} nap after another \
             would take {}.",
            human_ms(tasks.wall_ms),
            human(NAP),
            human_ms(one_by_one_ms(tasks))
        ),
        false => "Not at once: the machine was too busy to run them side by side.".into(),
    });
    lines
}
