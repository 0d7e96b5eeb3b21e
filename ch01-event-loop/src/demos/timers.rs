//! Section 1.7, demo `timers`: thousands of tasks each sleeping one second. A sleeping task is
//! only an entry in the loop's sorted map of deadlines, so the whole batch takes about one second and a
//! few hundred bytes per task, on one thread.
//!
//! Peak memory (`ru_maxrss`) belongs to a process and only ever grows, so each runtime is measured
//! in a fresh child process: this same program re-run with a `Job::Timers` (`shared::child`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::child::SelfExe;
use shared::narrate::plural;
use shared::timing::{human_ms, ms, peak_rss_kb};
use shared::{Narrator, Report, Stopwatch};
use tracing::info_span;

use super::{Rows, SECTION, tokio_runtime};
use crate::cli::{Job, Sizes};
use crate::event_loop::{EventLoop, sleep, spawn};

/// Every task sleeps this long.
pub const SLEEP: Duration = Duration::from_secs(1);

// ---- the lesson: many sleeping tasks, on each runtime ----

/// One task per sleep on the hand-built loop, then await every task.
async fn hand_built(count: u64) -> anyhow::Result<()> {
    let handles: Vec<_> = (0..count).map(|_| spawn(sleep(SLEEP))).collect();
    for handle in handles {
        handle.await?;
    }
    Ok(())
}

/// The idiomatic tokio way: one spawned task per sleep, collected by a `JoinSet`.
async fn tokio_spawned(count: u64) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        tasks.spawn(tokio::time::sleep(SLEEP));
    }
    tasks.join_all().await;
}

/// Every sleep inside one `join_all`, inside one tokio task.
async fn tokio_join_all(count: u64) {
    futures::future::join_all((0..count).map(|_| tokio::time::sleep(SLEEP))).await;
}

/// The same, with tokio's cooperative budget switched off for that task.
async fn tokio_join_all_unconstrained(count: u64) {
    tokio::task::unconstrained(tokio_join_all(count)).await;
}

// ---- measuring it ----

/// asyncio's own loop doing the same (`timers.py`): N tasks each `await asyncio.sleep(1)`.
const ASYNCIO: shared::python::Script =
    shared::python::Script::new("timers.py", include_str!("timers.py"));

/// Above this many timers the `join_all` variants and asyncio, the slowest rows, are skipped.
const JOIN_ALL_LIMIT: u64 = 100_000;
/// The Rust rows, in the order they run: each runtime by its row's name (`child` runs it).
const RUNTIMES: &str = "hand_built tokio tokio_join_all tokio_join_all_unconstrained";

/// What a child process measured.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ChildResult {
    /// From before the first task was made until the last sleep ended.
    pub wall_ms: f64,
    /// Peak resident memory at the end.
    pub peak_rss_kb: u64,
    /// Peak resident memory before the first task.
    pub start_rss_kb: u64,
}

/// One runtime as the report and `--json` show it.
#[derive(Debug, Clone, Serialize)]
pub struct TimerRow {
    /// The measurement's name.
    pub name: &'static str,
    /// The batch's wall time.
    pub wall_ms: f64,
    /// Peak resident memory at the end.
    pub peak_rss_kb: u64,
    /// Its growth while the tasks were made and slept.
    pub rss_growth_kb: u64,
    /// That growth per sleeping task.
    pub bytes_per_timer: f64,
}

/// Every runtime's row, in the order they ran, and one span per child around its batch.
pub type Timers = Rows<TimerRow>;

/// Every runtime, each in a fresh child process (this program, or asyncio's).
pub fn measure(sizes: &Sizes) -> anyhow::Result<Timers> {
    let (count, exe) = (sizes.count, SelfExe::current()?);
    let small = count <= JOIN_ALL_LIMIT;
    let (mut rows, mut spans) = (Vec::new(), Vec::new());
    let mut add = |name, finished: shared::child::Finished<ChildResult>| {
        let child = finished.result;
        let growth = child.peak_rss_kb.saturating_sub(child.start_rss_kb);
        rows.push(TimerRow {
            name,
            wall_ms: child.wall_ms,
            peak_rss_kb: child.peak_rss_kb,
            rss_growth_kb: growth,
            bytes_per_timer: (growth * 1024) as f64 / count as f64,
        });
        spans.extend(finished.spans);
    };
    for name in RUNTIMES.split(' ').take(if small { 4 } else { 2 }) {
        add(
            name,
            exe.run(&Job::Timers {
                runtime: name.into(),
                count,
            })?,
        );
    }
    if let Some(python) = shared::narrate::python().filter(|_| small) {
        add("asyncio", python.run(&ASYNCIO, &[count.to_string()])?);
    }
    Ok(Timers { rows, spans })
}

/// Runs the demo and prints its report.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    let sleeps = plural(sizes.count, "sleep", "sleeps");
    narrator.header(
        SECTION,
        "How an event loop works: a sleeping task costs a timer entry, not a thread",
        &format!(
            "{} each sleep 1 s at the same time on one thread: the loop waits in the OS until \
             the earliest deadline, so the batch takes about 1 s.",
            plural(sizes.count, "task", "tasks")
        ),
    );
    let what = format!("{sleeps} of 1 s on each runtime");
    let (measured, _) = shared::narrate::record(&what, "", None, || measure(sizes));
    let Timers { rows, spans } = measured?;
    narrator.report(&Report::new("timers", SECTION, rows.clone()));
    narrator.timeline(
        "each runtime in its own child process (its main thread)",
        &spans,
    );
    let row = |name: &str| rows.iter().find(|row| row.name == name);
    let wall = |name: &str| row(name).map_or(f64::NAN, |row| row.wall_ms);
    let bytes = |name: &str| row(name).map_or(f64::NAN, |row| row.bytes_per_timer);
    let (joined, free) = (wall("tokio_join_all"), wall("tokio_join_all_unconstrained"));
    let tokio = wall("tokio");
    let mut summary = vec![
        format!(
            "hand-built: {sleeps} of 1 s took {}: one wait in the OS until the earliest \
             deadline, then the due deadlines taken in order and one wake per timer.",
            human_ms(wall("hand_built"))
        ),
        match sizes.count <= JOIN_ALL_LIMIT {
            true => format!(
                "tokio_join_all (every sleep in one join_all, inside one task) took {}, \
                 {:.2}x the tokio row (one spawned task per sleep, the idiomatic way); with \
                 tokio's cooperative budget off for that task (tokio_join_all_unconstrained), \
                 {}, {:.2}x. The budget lets one task poll about 128 tokio resources per \
                 turn; after that each Sleep answers Pending and wakes itself, so one task \
                 holding every sleep takes extra turns.",
                human_ms(joined),
                joined / tokio,
                human_ms(free),
                free / tokio
            ),
            false => format!("join_all and asyncio were skipped above {JOIN_ALL_LIMIT} timers."),
        },
        format!(
            "Memory per sleeping task is a boxed future, a join handle and a timer entry: no \
             thread, no stack. hand-built / tokio: {:.2}x the time, {:.2}x the bytes per \
             timer.",
            wall("hand_built") / tokio,
            bytes("hand_built") / bytes("tokio")
        ),
    ];
    summary.extend(row("asyncio").map(|asyncio| {
        format!(
            "asyncio's own loop: {} and {:.0} bytes per sleeping task (a Task, its coroutine \
             and a TimerHandle in the loop's heap): {:.1}x the hand-built loop's bytes, and \
             still no thread per task.",
            human_ms(asyncio.wall_ms),
            asyncio.bytes_per_timer,
            asyncio.bytes_per_timer / bytes("hand_built")
        )
    }));
    narrator.summary(SECTION, &summary);
    Ok(())
}

/// A child's job: one runtime's batch on a fresh loop or runtime, timed around `block_on`
/// only, inside a span named after its row (drawn on the parent's timeline).
pub fn child(runtime: &str, count: u64) -> anyhow::Result<ChildResult> {
    let start_rss_kb = peak_rss_kb();
    let span = match runtime {
        "hand_built" => info_span!("hand_built"),
        "tokio" => info_span!("tokio"),
        "tokio_join_all" => info_span!("tokio_join_all"),
        "tokio_join_all_unconstrained" => info_span!("tokio_join_all_unconstrained"),
        _ => anyhow::bail!("no runtime {runtime}"),
    };
    let _batch = span.entered();
    let wall = if runtime == "hand_built" {
        let event_loop = EventLoop::new()?;
        let stopwatch = Stopwatch::start();
        event_loop.block_on(hand_built(count))?;
        stopwatch.elapsed()
    } else {
        let tokio = tokio_runtime()?;
        let stopwatch = Stopwatch::start();
        match runtime {
            "tokio_join_all" => tokio.block_on(tokio_join_all(count)),
            "tokio_join_all_unconstrained" => tokio.block_on(tokio_join_all_unconstrained(count)),
            _ => tokio.block_on(tokio_spawned(count)),
        }
        stopwatch.elapsed()
    };
    Ok(ChildResult {
        wall_ms: ms(wall),
        peak_rss_kb: peak_rss_kb(),
        start_rss_kb,
    })
}
