//! Section 1.7, demo `timers`: thousands of tasks each sleeping one second. A sleeping task is
//! only an entry in the loop's sorted map of deadlines, so the whole batch takes about one second and a
//! few hundred bytes per task, on one thread.
//!
//! Peak memory (`ru_maxrss`) belongs to a process and only ever grows, so each runtime is measured
//! in a fresh child process: this same program re-run with the hidden `timers-child` subcommand,
//! which prints its numbers as one JSON line.

use std::time::Duration;

use crate::event_loop::{sleep, spawn};

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

/// Every sleep inside one `join_all`, inside one tokio task; `unconstrained` switches off tokio's
/// cooperative budget for that task.
async fn tokio_join_all(count: u64, unconstrained: bool) {
    // Made while the runtime runs this future: a sleep registers with the runtime's timer.
    let all = futures::future::join_all((0..count).map(|_| tokio::time::sleep(SLEEP)));
    if unconstrained {
        tokio::task::unconstrained(all).await;
    } else {
        all.await;
    }
}

// ---- measuring it ----

pub use measuring::{ChildResult, NAME, child, run};

mod measuring {
    use std::process::Command;
    use std::time::Duration;

    use anyhow::Context as _;
    use serde::{Deserialize, Serialize};
    use shared::narrate::plural;
    use shared::timing::{human_ms, ms};
    use shared::trace::{from_json_lines, to_json_lines};
    use shared::{Narrator, Recording, Report, Span, Stopwatch};
    use tracing::info_span;

    use crate::cli::{Sizes, TimerRuntime};
    use crate::event_loop::EventLoop;

    /// The demo's name in `--help` and `--json`.
    pub const NAME: &str = "timers";
    const SECTION: &str = "1.7";
    /// Above this many timers the `join_all` variants, the slowest rows, are skipped.
    const JOIN_ALL_LIMIT: u64 = 100_000;

    /// What a child process measured, printed by it as one JSON line after its spans.
    #[derive(Debug, Clone, Copy, Serialize, Deserialize)]
    pub struct ChildResult {
        /// From before the first task was made until the last sleep ended.
        pub wall_ms: f64,
        /// The child's peak resident memory at the end.
        pub peak_rss_kb: u64,
        /// Its peak resident memory before it made any task.
        pub start_rss_kb: u64,
    }

    /// One runtime as the report and `--json` show it.
    #[derive(Debug, Serialize)]
    struct Measured {
        name: &'static str,
        wall_ms: f64,
        peak_rss_kb: u64,
        rss_growth_kb: u64,
        bytes_per_timer: f64,
    }

    /// Runs the demo (each runtime in its own child process) and prints its report.
    pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
        let count = sizes.count;
        narrator.header(
            SECTION,
            "How an event loop works: a sleeping task costs a timer entry, not a thread",
            &format!(
                "{} each sleep 1 s at the same time on one thread: the loop waits in the OS until \
                 the earliest deadline, so the batch takes about 1 s.",
                plural(count, "task", "tasks")
            ),
        );
        let exe = std::env::current_exe().context("cannot find this program to re-run it")?;
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
        let (mut rows, mut spans) = (Vec::new(), Vec::new());
        for (name, runtime) in runs {
            narrator.say(format!(
                "{name}: {} of 1 s, in a fresh process ...",
                plural(count, "sleep", "sleeps")
            ));
            // The child's spans come back on its standard output; this recording only drives
            // the spinner while the parent waits.
            let recording = Recording::start();
            let progress = narrator.progress(
                &recording,
                &format!("{name}: waiting for {}", plural(count, "sleep", "sleeps")),
                "",
                None,
            );
            let (result, child_spans) = run_child(&exe, runtime, count);
            drop(progress);
            drop(recording);
            let result = result?;
            spans.extend(child_spans);
            let growth = result.peak_rss_kb.saturating_sub(result.start_rss_kb);
            rows.push(Measured {
                name,
                wall_ms: result.wall_ms,
                peak_rss_kb: result.peak_rss_kb,
                rss_growth_kb: growth,
                bytes_per_timer: (growth * 1024) as f64 / count as f64,
            });
        }
        let row = |name: &str| rows.iter().find(|row| row.name == name);
        let wall = |name: &str| row(name).map_or(f64::NAN, |row| row.wall_ms);
        let bytes = |name: &str| row(name).map_or(f64::NAN, |row| row.bytes_per_timer);
        let join_all_line = if count <= JOIN_ALL_LIMIT {
            let (joined, free) = (wall("tokio_join_all"), wall("tokio_join_all_unconstrained"));
            format!(
                "tokio_join_all (every sleep in one join_all, inside one task) took {}, {:.2}x \
                 the tokio row (one spawned task per sleep, the idiomatic way); with tokio's \
                 cooperative budget off for that task (tokio_join_all_unconstrained), {}, \
                 {:.2}x. The budget lets one task poll about 128 tokio resources per turn; \
                 after that each Sleep answers Pending and wakes itself, so one task holding \
                 every sleep takes extra turns.",
                human_ms(joined),
                joined / wall("tokio"),
                human_ms(free),
                free / wall("tokio")
            )
        } else {
            format!("the join_all variants were skipped above {JOIN_ALL_LIMIT} timers.")
        };
        let summary = [
            format!(
                "hand-built: {} of 1 s took {}: one wait in the OS until the earliest \
                 deadline, then the due deadlines taken in order and one wake per timer.",
                plural(count, "sleep", "sleeps"),
                human_ms(wall("hand_built"))
            ),
            join_all_line,
            format!(
                "Memory per sleeping task is a boxed future, a join handle and a timer entry: no \
                 thread, no stack. hand-built / tokio: {:.2}x the time, {:.2}x the bytes per \
                 timer.",
                wall("hand_built") / wall("tokio"),
                bytes("hand_built") / bytes("tokio")
            ),
        ];
        narrator.report(&Report::new(NAME, SECTION, rows));
        narrator.timeline(
            "each runtime in its own child process (its main thread)",
            &spans,
        );
        narrator.summary(SECTION, &summary);
        Ok(())
    }

    fn runtime_name(runtime: TimerRuntime) -> &'static str {
        match runtime {
            TimerRuntime::HandBuilt => "hand-built",
            TimerRuntime::Tokio => "tokio",
            TimerRuntime::TokioJoinAll => "tokio-join-all",
            TimerRuntime::TokioJoinAllUnconstrained => "tokio-join-all-unconstrained",
        }
    }

    /// Runs one measurement in a child process; returns its result and the spans it recorded.
    fn run_child(
        exe: &std::path::Path,
        runtime: TimerRuntime,
        count: u64,
    ) -> (anyhow::Result<ChildResult>, Vec<Span>) {
        let name = runtime_name(runtime);
        let output = match Command::new(exe)
            .args([
                "timers-child",
                "--runtime",
                name,
                "--count",
                &count.to_string(),
            ])
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))
        {
            Ok(output) => output,
            Err(error) => return (Err(error), Vec::new()),
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let error = anyhow::anyhow!("the {name} timers child failed: {}", child_error(&stderr));
            return (Err(error), Vec::new());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let (spans, other) = from_json_lines(&stdout);
        let result = match other.last() {
            Some(line) => serde_json::from_str(line)
                .with_context(|| format!("the timers child printed {line:?}")),
            None => Err(anyhow::anyhow!("the timers child printed nothing")),
        };
        (result, spans)
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

    /// The hidden `timers-child` subcommand: measures one runtime inside a span named after the
    /// measurement, and prints that span (for the parent's timeline), then a [`ChildResult`].
    pub fn child(runtime: TimerRuntime, count: u64) -> anyhow::Result<()> {
        let start_rss_kb = shared::timing::peak_rss_kb();
        // Opened after the recording starts, or the recording would not see it.
        let recording = Recording::start();
        let span = match runtime {
            TimerRuntime::HandBuilt => info_span!("hand_built"),
            TimerRuntime::Tokio => info_span!("tokio"),
            TimerRuntime::TokioJoinAll => info_span!("tokio_join_all"),
            TimerRuntime::TokioJoinAllUnconstrained => info_span!("tokio_join_all_unconstrained"),
        };
        let wall = span.in_scope(|| time_batch(runtime, count));
        drop(span);
        let spans = recording.finish();
        let result = ChildResult {
            wall_ms: ms(wall?),
            peak_rss_kb: shared::timing::peak_rss_kb(),
            start_rss_kb,
        };
        print!("{}", to_json_lines(&spans));
        println!("{}", serde_json::to_string(&result)?);
        Ok(())
    }

    /// The wall time of one runtime's batch, on a fresh loop or runtime: the clock runs around
    /// `block_on` only, not around making the runtime.
    fn time_batch(runtime: TimerRuntime, count: u64) -> anyhow::Result<Duration> {
        if matches!(runtime, TimerRuntime::HandBuilt) {
            let event_loop = EventLoop::new()?;
            let stopwatch = Stopwatch::start();
            event_loop.block_on(super::hand_built(count))?;
            return Ok(stopwatch.elapsed());
        }
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("could not start a tokio runtime")?;
        let stopwatch = Stopwatch::start();
        tokio.block_on(async {
            match runtime {
                TimerRuntime::TokioJoinAll => super::tokio_join_all(count, false).await,
                TimerRuntime::TokioJoinAllUnconstrained => super::tokio_join_all(count, true).await,
                _ => super::tokio_spawned(count).await,
            }
        });
        Ok(stopwatch.elapsed())
    }
}
