//! Section 1.7, demo `timers`: thousands of tasks each sleeping one second. A sleeping task is
//! only an entry in the loop's sorted map of deadlines, so the whole batch takes about one second and a
//! few hundred bytes per task, on one thread.
//!
//! Peak memory (`ru_maxrss`) belongs to a process and only ever grows, so each runtime is measured
//! in a fresh child process: this same program re-run with the hidden `timers-child` subcommand,
//! which prints its numbers as one JSON line.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use shared::Stopwatch;
use shared::legacy::report::{DemoReport, Measurement};
use shared::legacy::{Narrator, SpanKind, SpanRecorder};

use crate::cli::{Sizes, TimerRuntime};
use crate::event_loop::{EventLoop, sleep, spawn};

/// The demo's name in `--help` and `--json`.
pub const NAME: &str = "timers";
/// Every task sleeps this long.
pub const SLEEP: Duration = Duration::from_secs(1);
/// Above this many timers the `join_all` variants, which grow faster than linearly, are skipped.
const JOIN_ALL_LIMIT: u64 = 100_000;

/// What a child process measured, printed by it as one JSON line.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ChildResult {
    /// From before the first task was made until the last sleep ended.
    pub wall_ms: f64,
    /// The child's peak resident memory at the end.
    pub peak_rss_kb: u64,
    /// Its peak resident memory before it made any task.
    pub start_rss_kb: u64,
}

/// Runs the demo (each runtime in its own child process) and prints its report.
pub fn run(narrator: &Narrator, sizes: &Sizes) -> anyhow::Result<()> {
    let count = sizes.count;
    narrator.header(
        "1.7",
        "How an event loop works: a sleeping task costs a timer entry, not a thread",
        &format!(
            "{count} tasks each sleep 1 s at the same time on one thread: the loop waits in the OS \
             until the earliest deadline, so the batch takes about 1 s."
        ),
    );
    let exe = std::env::current_exe().context("cannot find this program to re-run it")?;
    let recorder = SpanRecorder::new();
    let mut report = DemoReport::new(NAME, "1.7");
    let mut runs = vec![
        ("hand_built", TimerRuntime::HandBuilt),
        ("tokio", TimerRuntime::Tokio),
    ];
    if count <= JOIN_ALL_LIMIT {
        runs.push(("tokio_join_all", TimerRuntime::TokioJoinAll));
        runs.push((
            "tokio_join_all_unconstrained",
            TimerRuntime::TokioJoinAllUnconstrained,
        ));
    }
    for (name, runtime) in runs {
        narrator.say(format!(
            "{name}: {count} sleeps of 1 s, in a fresh process ..."
        ));
        let progress = narrator.progress(format!("{name}: waiting for {count} sleeps"), None);
        let started = Instant::now();
        let result = run_child(&exe, runtime, count)?;
        recorder.record(name, SpanKind::WaitIo, started, Instant::now());
        drop(progress);
        let growth = result.peak_rss_kb.saturating_sub(result.start_rss_kb);
        report.push(
            Measurement::new(name, Duration::from_secs_f64(result.wall_ms / 1e3))
                .field("peak_rss_kb", result.peak_rss_kb as f64)
                .field("rss_growth_kb", growth as f64)
                .field("bytes_per_timer", (growth * 1024) as f64 / count as f64),
        );
    }
    narrator.report(&report, Some("tokio"));
    narrator.timeline("each runtime in its own child process", &recorder.spans());
    let wall = |name: &str| report.get(name).map_or(f64::NAN, |m| m.wall_ms);
    let bytes = |name: &str| {
        let bytes = report.get(name).and_then(|m| m.get("bytes_per_timer"));
        bytes.unwrap_or(f64::NAN)
    };
    let join_all_line = if count <= JOIN_ALL_LIMIT {
        format!(
            "tokio_join_all took {:.0} ms here, the tokio row {:.0} ms; the gap grows faster \
             than the count (try --count 100000). Not because join_all re-polls every child \
             (above 30 futures it uses FuturesOrdered, which polls only the woken ones) but \
             because of tokio's cooperative budget: one task may poll about 128 tokio resources \
             per turn, then each Sleep answers Pending and wakes itself, so one task holding every \
             sleep needs many extra turns. With the budget off (tokio_join_all_unconstrained): \
             {:.0} ms. The idiomatic way is the tokio row: one spawned task per sleep (JoinSet).",
            wall("tokio_join_all"),
            wall("tokio"),
            wall("tokio_join_all_unconstrained")
        )
    } else {
        format!("the join_all variants were skipped above {JOIN_ALL_LIMIT} timers.")
    };
    narrator.summary(
        "1.7",
        &[
            &format!(
                "hand-built: {count} sleeps of 1 s took {:.0} ms: one wait in the OS until the \
                 earliest deadline, then the due deadlines taken in order and one wake per timer.",
                wall("hand_built")
            ),
            &join_all_line,
            &format!(
                "Memory per sleeping task is a boxed future, a join handle and a timer entry: no \
                 thread, no stack. hand-built / tokio: {:.2}x the time, {:.2}x the bytes per timer.",
                wall("hand_built") / wall("tokio"),
                bytes("hand_built") / bytes("tokio")
            ),
        ],
    );
    Ok(())
}

fn run_child(
    exe: &std::path::Path,
    runtime: TimerRuntime,
    count: u64,
) -> anyhow::Result<ChildResult> {
    let runtime_name = match runtime {
        TimerRuntime::HandBuilt => "hand-built",
        TimerRuntime::Tokio => "tokio",
        TimerRuntime::TokioJoinAll => "tokio-join-all",
        TimerRuntime::TokioJoinAllUnconstrained => "tokio-join-all-unconstrained",
    };
    let output = Command::new(exe)
        .args([
            "timers-child",
            "--runtime",
            runtime_name,
            "--count",
            &count.to_string(),
        ])
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "the {runtime_name} timers child failed: {}",
            child_error(&stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .context("the timers child printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("the timers child printed {line:?}"))
}

/// The one line of a child's standard error that says what went wrong.
fn child_error(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    if let Some(error) = lines.iter().find(|line| line.starts_with("error:")) {
        return error;
    }
    // A panic prints "thread .. panicked at file:line:" and the message on the next line.
    if let Some(at) = lines.iter().position(|line| line.contains("panicked at")) {
        if let Some(message) = lines.get(at + 1) {
            return message;
        }
    }
    lines.last().copied().unwrap_or("no message")
}

/// The hidden `timers-child` subcommand: measures one runtime and prints a [`ChildResult`].
pub fn child(runtime: TimerRuntime, count: u64) -> anyhow::Result<()> {
    let start_rss_kb = shared::timing::peak_rss_kb();
    let wall = match runtime {
        TimerRuntime::HandBuilt => hand_built(count)?,
        TimerRuntime::Tokio => tokio_spawned(count)?,
        TimerRuntime::TokioJoinAll => tokio_join_all(count, false)?,
        TimerRuntime::TokioJoinAllUnconstrained => tokio_join_all(count, true)?,
    };
    let result = ChildResult {
        wall_ms: wall.as_secs_f64() * 1e3,
        peak_rss_kb: shared::timing::peak_rss_kb(),
        start_rss_kb,
    };
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// One task per sleep on the hand-built loop; returns the wall time of the whole batch.
pub fn hand_built(count: u64) -> anyhow::Result<Duration> {
    let event_loop = EventLoop::new()?;
    let stopwatch = Stopwatch::start();
    event_loop.block_on(async {
        let handles: Vec<_> = (0..count).map(|_| spawn(sleep(SLEEP))).collect();
        for handle in handles {
            handle.await?;
        }
        anyhow::Ok(())
    })?;
    Ok(stopwatch.elapsed())
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start a tokio runtime")
}

/// The idiomatic tokio way: one spawned task per sleep, collected by a `JoinSet`.
pub fn tokio_spawned(count: u64) -> anyhow::Result<Duration> {
    let runtime = tokio_runtime()?;
    let stopwatch = Stopwatch::start();
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..count {
            tasks.spawn(tokio::time::sleep(SLEEP));
        }
        tasks.join_all().await;
    });
    Ok(stopwatch.elapsed())
}

/// Every sleep inside one `join_all`, inside one tokio task; `unconstrained` switches off tokio's
/// cooperative budget for that task.
pub fn tokio_join_all(count: u64, unconstrained: bool) -> anyhow::Result<Duration> {
    let runtime = tokio_runtime()?;
    let stopwatch = Stopwatch::start();
    runtime.block_on(async {
        // Sleeps must be made inside the runtime: they register with its timer.
        let all = futures::future::join_all((0..count).map(|_| tokio::time::sleep(SLEEP)));
        if unconstrained {
            tokio::task::unconstrained(all).await
        } else {
            all.await
        }
    });
    Ok(stopwatch.elapsed())
}
