//! Section 1.5: "when we use asyncio, we create coroutines; they can be thought of as executing a
//! lightweight thread". N units each sleep 1 s, all at once: first as N OS threads, then as N
//! tokio tasks on one thread. Each way runs in a fresh child process, so the memory it reports is
//! its own.

use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shared::child::{Finished, SelfExe};
use shared::narrate::{plural, record, times};
use shared::python::{Python, Script};
use shared::timing::{Stopwatch, human, human_ms, ms, peak_rss_kb, ratio};
use shared::{Narrator, Report, Span};

use crate::child::{Job, thread_count};
use crate::cli::Sizes;
use crate::thread_cap::ThreadCap;

// ---- the lesson: N sleepers as threads, then as tasks ----

/// How long every unit sleeps.
pub const NAP: Duration = Duration::from_secs(1);

/// N OS threads, each sleeping `NAP`: every one has its own stack and is scheduled by the OS.
/// Stops at the first thread the OS refuses, and returns the threads started with that error.
pub fn spawn_threads(units: u64) -> (Vec<std::thread::JoinHandle<()>>, Option<std::io::Error>) {
    let mut threads = Vec::new();
    for _ in 0..units {
        match std::thread::Builder::new().spawn(|| std::thread::sleep(NAP)) {
            Ok(thread) => threads.push(thread),
            Err(error) => return (threads, Some(error)),
        }
    }
    (threads, None)
}

/// N tokio tasks, each sleeping `NAP` (asyncio's `create_task(asyncio.sleep(1))`): a task is a
/// future and a small header on the heap, and all of them share the runtime's one thread.
pub fn spawn_tasks(units: u64) -> Vec<tokio::task::JoinHandle<()>> {
    (0..units)
        .map(|_| tokio::spawn(tokio::time::sleep(NAP)))
        .collect()
}

// ---- measuring it ----

const DEMO: &str = "coroutines";
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
    /// CPU time the process spent creating one unit, in microseconds: unlike the wall time,
    /// it does not grow while other programs hold the CPU.
    #[serde(default)]
    pub spawn_cpu_us_per_unit: f64,
    /// OS threads the process had while the units slept.
    pub threads_used: u64,
    /// Why fewer units ran than asked for, when they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Runs in the child: the units as OS threads (`as_threads`) or tokio tasks, measured from
/// inside. Each way first makes one unit alone, so that what the first one sets up (thread-local
/// state, the allocator's bookkeeping; the runtime and its timer) is paid once, not per unit.
pub fn in_child(as_threads: bool, units: u64) -> anyhow::Result<Sleepers> {
    let (before_kb, watch, spawned, threads_used, ran, note) = if as_threads {
        let first = std::thread::spawn(|| ()).join();
        first.map_err(|_| anyhow::anyhow!("an empty thread panicked"))?;
        let (before_kb, watch) = (peak_rss_kb(), Stopwatch::start());
        let (threads, refused) = spawn_threads(units);
        let spawned = watch.usage();
        let ran = threads.len() as u64;
        let threads_used = thread_count().unwrap_or(ran + 1);
        for thread in threads {
            let slept = thread.join();
            slept.map_err(|_| anyhow::anyhow!("a sleeping thread panicked"))?;
        }
        let mut notes = Vec::new();
        if let Some(error) = refused {
            notes.push(format!("the OS refused thread {} ({error})", ran + 1));
        }
        // The main thread plus every unit would be `ran + 1`.
        if threads_used <= ran {
            notes.push(format!(
                "starting them took {}, longer than a nap, so the first had finished \
                     before the last started: {} alive at once",
                human(spawned.wall),
                plural(threads_used.saturating_sub(1), "thread was", "threads were")
            ));
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        (before_kb, watch, spawned, threads_used, ran, note)
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .context("could not start the tokio runtime")?;
        runtime.block_on(async {
            let first = tokio::spawn(tokio::time::sleep(Duration::from_millis(1)));
            first.await.context("the first task failed")?;
            let (before_kb, watch) = (peak_rss_kb(), Stopwatch::start());
            let tasks = spawn_tasks(units);
            let spawned = watch.usage();
            let threads_used = thread_count().unwrap_or(1);
            for task in tasks {
                task.await.context("a sleeping task failed")?;
            }
            anyhow::Ok((before_kb, watch, spawned, threads_used, units, None))
        })?
    };
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
        note,
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
/// process: this program (`os_threads`, `tokio_tasks`), then `python` when given
/// (`asyncio_tasks`, `python_threads`, whose spans are returned).
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
        let n = if threads {
            units.min(cap.max_threads)
        } else {
            units
        };
        let what = format!("{name}: {n} units sleeping");
        let (finished, _) = record(&what, "unit", None, || match (name, python) {
            ("os_threads" | "tokio_tasks", _) => exe
                .run::<Sleepers>(&Job::Sleepers { threads, units: n })
                .map(Some),
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

/// `sizes.units` sleepers each way, threads capped at what this machine allows (see
/// [`sleepers`]).
pub fn measure(sizes: &Sizes) -> anyhow::Result<(Vec<Sleepers>, Vec<Span>)> {
    let python = shared::narrate::python();
    sleepers(sizes.units, &crate::thread_cap::current(), python.as_ref())
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
        "{} units each sleep {} at once: as OS threads, then as tokio tasks on one \
         thread, then in CPython as asyncio tasks and as threads, each way in a fresh \
         process so that its memory is its own.\n\n",
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
    let mut lines = vec![format!(
        "Spawning: a task took {:.2} µs to create ({:.2} µs of CPU), a thread {:.2} µs ({:.2} \
         µs of CPU): {}",
        tasks.spawn_us_per_unit,
        tasks.spawn_cpu_us_per_unit,
        threads.spawn_us_per_unit,
        threads.spawn_cpu_us_per_unit,
        if threads.spawn_cpu_us_per_unit > tasks.spawn_cpu_us_per_unit {
            format!(
                "a thread cost {} the CPU of a task.",
                times(threads.spawn_cpu_us_per_unit, tasks.spawn_cpu_us_per_unit)
            )
        } else {
            "here a task was not cheaper to create.".into()
        }
    )];
    let bytes = |row: &Sleepers| format!("{:.0} bytes", row.bytes_per_unit);
    lines.push(format!(
        "Memory: {} All {} shared {}; the threads needed {}.",
        match (tasks.bytes_per_unit > 0.0, threads.bytes_per_unit > 0.0) {
            (true, true) => format!(
                "a task grew the process's peak memory by {}, a thread by {}: {} as much.",
                bytes(tasks),
                bytes(threads),
                times(threads.bytes_per_unit, tasks.bytes_per_unit)
            ),
            (false, true) => format!(
                "the tasks did not raise the process's peak memory at all (they fit in pages \
                 it already had); each thread added {}.",
                bytes(threads)
            ),
            _ => "too few units to raise the peak memory by a page; more --units show it.".into(),
        },
        plural(tasks.units, "task", "tasks"),
        plural(tasks.threads_used, "OS thread", "OS threads"),
        plural(threads.threads_used, "OS thread", "OS threads")
    ));
    let nap_ms = ms(NAP);
    // At once: well under halfway to what one nap after another would take.
    let one_by_one_ms = |row: &Sleepers| nap_ms * row.units as f64;
    let at_once = |row: &Sleepers| row.wall_ms < nap_ms + (one_by_one_ms(row) - nap_ms) / 2.0;
    lines.push(format!(
        "{} each sleeping {} took {} in all, {} took {}: {}",
        plural(tasks.units, "task", "tasks"),
        human(NAP),
        human_ms(tasks.wall_ms),
        plural(threads.units, "thread", "threads"),
        human_ms(threads.wall_ms),
        if at_once(tasks) && at_once(threads) {
            format!(
                "both ways slept at once; one nap after another would take {} for the tasks.",
                human_ms(one_by_one_ms(tasks))
            )
        } else {
            "not at once: the machine was too busy to run them side by side.".into()
        }
    ));
    lines
}
