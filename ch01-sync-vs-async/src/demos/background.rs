//! Section 1.1: "asynchronous programming allows a long-running task to run in the background,
//! separate from the main application; once it is done, we get notified and process the result."
//!
//! The background task is a slow request. While it waits, the main task keeps ticking (visible
//! work); it learns the result through the task's `JoinHandle`, with no polling of its own.
//! Both run on ONE thread: the main task is never blocked because the background task only ever
//! waits, and waiting hands the thread back to the runtime.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::Url;
use shared::workloads::{Target, fetch, http_client};
use shared::{Measurement, Narrator, SpanKind, SpanRecorder, Stopwatch};

use crate::Sizes;
use crate::outcome::{Outcome, threads_used};

/// The demo's name in `--help` and `--json`.
pub const DEMO: &str = "background";
/// The section of the notes it demonstrates.
pub const SECTION: &str = "1.1";
/// Span label of the long-running task.
pub const BACKGROUND_TASK: &str = "background task";
/// Span label of the main task's ticks.
pub const MAIN_TASK: &str = "main task";

/// Starts the background task, ticks until it reports back, and measures both.
pub fn measure(sizes: &Sizes, url: Option<&Url>, narrator: &Narrator) -> anyhow::Result<Outcome> {
    let target = Target::new(url, sizes.background_ms)?;
    let client = http_client(target.url())?;
    let recorder = Arc::new(SpanRecorder::new());
    // About six ticks whatever the length, so the output stays short.
    let tick_every = Duration::from_millis((sizes.background_ms / 6).clamp(10, 250));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    let (status, ticks, wall) = runtime.block_on(async {
        let watch = Stopwatch::start();
        let background = tokio::spawn({
            let recorder = Arc::clone(&recorder);
            let url = target.url().clone();
            async move {
                recorder
                    .in_span_async(BACKGROUND_TASK, SpanKind::WaitIo, fetch(&client, &url))
                    .await
            }
        });
        tokio::pin!(background);
        let first_tick = tokio::time::Instant::now() + tick_every;
        let mut ticker = tokio::time::interval_at(first_tick, tick_every);
        let mut ticks: u64 = 0;
        // Bounded: the request has a timeout, so the handle always completes.
        let status = loop {
            tokio::select! {
                finished = &mut background => break finished.context("the background task failed")??,
                _ = ticker.tick() => {
                    ticks += 1;
                    recorder.in_span(MAIN_TASK, SpanKind::Cpu, || {
                        narrator.say(format!(
                            "  main task: tick {ticks} at {} (the background task is still waiting)",
                            shared::timing::human(watch.elapsed())
                        ));
                    });
                }
            }
        };
        narrator.say(format!(
            "  main task: notified after {}: the background task finished with HTTP {status}",
            shared::timing::human(watch.elapsed())
        ));
        anyhow::Ok((status, ticks, watch.elapsed()))
    })?;
    drop(runtime);

    let spans = recorder.spans();
    let task_ms = spans
        .iter()
        .find(|s| s.task == BACKGROUND_TASK)
        .map(|s| s.duration().as_secs_f64() * 1e3)
        .unwrap_or(0.0);
    let mut outcome = Outcome::new(DEMO, SECTION);
    outcome.report.push(
        Measurement::new("background", wall)
            .field("main_ticks", ticks as f64)
            .field("task_ms", task_ms)
            .field("status", status)
            .field("threads_used", threads_used(&spans)),
    );
    outcome.spans.push(("background".into(), spans));
    Ok(outcome)
}

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, url: Option<&Url>, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "What is asyncio: a task in the background",
        "A long-running task can run in the background while the main task keeps working; \
         when it is done, the main task is notified and gets its result.",
    );
    let outcome = measure(sizes, url, narrator)?;
    outcome.print(narrator, None);
    let ticks = outcome.field("background", "main_ticks").unwrap_or(0.0);
    let task_ms = outcome.field("background", "task_ms").unwrap_or(0.0);
    let threads = outcome.field("background", "threads_used").unwrap_or(0.0);
    narrator.summary(
        SECTION,
        &[
            &format!(
                "The background task ran for {}; meanwhile the main task ticked {ticks:.0} times: it was never blocked.",
                shared::report::format_ms(task_ms)
            ),
            "The main task did not poll for the result: awaiting the JoinHandle is the notification.",
            &format!(
                "All of it ran on {threads:.0} thread: waiting for I/O does not need a thread of its own."
            ),
        ],
    );
    Ok(())
}
