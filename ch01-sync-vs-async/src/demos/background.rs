//! Section 1.1: "asynchronous programming allows for a long running task to be run in the
//! background separate from the main application; once it is completed, we get notified so that
//! we can process the result."

use std::time::Duration;

use serde::Serialize;
use shared::narrate::plural;
use shared::timing::{human_ms, ms};
use shared::trace::{named, threads_used};
use shared::workloads::{Target, fetch, fib, http_client};
use shared::{Narrator, Report, Span, python::Script};
use tracing::{Instrument as _, info_span};

use crate::Sizes;

// ---- the lesson: a task in the background, a main task that keeps working ----

/// asyncio's `task = asyncio.create_task(...)` then `await task`: the slow request runs as a
/// task of its own while the main task keeps ticking, and awaiting the task's handle is the
/// notification. Both run on the thread that drives the runtime. Returns the status and how
/// many ticks the main task made meanwhile.
pub async fn background_request(
    client: reqwest::Client,
    url: reqwest::Url,
    tick_every: Duration,
) -> anyhow::Result<(u16, u64)> {
    let request = async move { fetch(&client, &url).await };
    let mut task = tokio::spawn(request.instrument(info_span!("background task")));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + tick_every, tick_every);
    let mut ticks = 0;
    loop {
        tokio::select! {
            finished = &mut task => return Ok((finished??, ticks)),
            _ = ticker.tick() => {
                ticks += 1;
                // The main task's own work meanwhile: a small computation.
                info_span!("main task").in_scope(|| std::hint::black_box(fib(25)));
            }
        }
    }
}

// ---- measuring it ----

/// The same in CPython, with `asyncio.create_task`: `background.py` beside this file.
pub const PYTHON: Script = Script::new("background.py", include_str!("background.py"));

const DEMO: &str = "background";
const SECTION: &str = "1.1";

/// The background request and the main task's ticks, measured.
#[derive(Debug, Clone, Serialize)]
pub struct Background {
    /// `background`, or `asyncio_create_task` for CPython.
    pub name: &'static str,
    /// From spawning the task to being notified of its result.
    pub wall_ms: f64,
    /// Ticks the main task made while the request was out.
    pub main_ticks: u64,
    /// How long the background task's span was open.
    pub task_ms: f64,
    /// From the background task's end to the main task having its result: the notification.
    pub notified_after_ms: f64,
    /// How often the main task ticks.
    pub tick_every_ms: f64,
    /// The HTTP status the background task got.
    pub status: u16,
    /// OS threads that ran the two tasks.
    pub threads_used: usize,
    /// The `background task` span and one `main task` span per tick.
    #[serde(skip)]
    pub spans: Vec<Span>,
}

impl Background {
    /// The row from the status and tick count `got` and the spans: `run` (closed when the main
    /// task had the result) holds the `background task` and the `main task` ticks.
    fn new(name: &'static str, got: (u16, u64), tick: Duration, mut spans: Vec<Span>) -> Self {
        let (status, main_ticks) = got;
        let open = |name| named(&spans, name).first().map(|s| (s.opened, s.closed));
        let [(task_opened, task_closed), (opened, returned)] =
            ["background task", "run"].map(|name| open(name).unwrap_or_default());
        spans.retain(|s| s.name != "run");
        Self {
            name,
            wall_ms: ms(returned.saturating_sub(opened)),
            main_ticks,
            task_ms: ms(task_closed.saturating_sub(task_opened)),
            notified_after_ms: ms(returned.saturating_sub(task_closed)),
            tick_every_ms: ms(tick),
            status,
            threads_used: threads_used(&spans),
            spans,
        }
    }
}

/// The background request and the ticks, with `tokio::spawn`, then `asyncio.create_task`.
pub fn measure(sizes: &Sizes) -> anyhow::Result<Vec<Background>> {
    let target = Target::new(sizes.url.as_ref(), sizes.background_ms)?;
    // About six ticks whatever the length, so the timeline stays readable.
    let tick_every = Duration::from_millis((sizes.background_ms / 6).clamp(10, 250));
    let runtime = crate::demos::event_loop()?;
    let request = background_request(http_client(target.url())?, target.url().clone(), tick_every);
    // The whole run in one span: it closes when block_on returns, the moment the main task has
    // the background task's result.
    let run = || info_span!("run").in_scope(|| runtime.block_on(request));
    let what = "the background request";
    let (done, spans) = shared::narrate::record(what, "background task", None, run);
    let mut rows = vec![Background::new(DEMO, done?, tick_every, spans)];
    if let Some(python) = shared::narrate::python() {
        let args = [target.url().to_string(), tick_every.as_millis().to_string()];
        let finished = python.run(&PYTHON, &args)?;
        let (name, spans) = ("asyncio_create_task", finished.spans);
        rows.push(Background::new(name, finished.result, tick_every, spans));
    }
    Ok(rows)
}

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    let claim = "A long-running task can run in the background while the main task keeps \
                 working; when it is done, the main task is notified and gets its result.";
    narrator.header(SECTION, "What is asyncio: a task in the background", claim);
    let rows = measure(sizes)?;
    narrator.report(&Report::new(DEMO, SECTION, rows.iter().collect()));
    let spans: Vec<Span> = rows.iter().flat_map(|row| row.spans.clone()).collect();
    narrator.timeline("background", &spans);
    // The rows in the order measured: tokio's, then CPython's.
    let mut summary: Vec<String> = (rows.iter().zip(["tokio::spawn", "asyncio.create_task"]))
        .map(|(row, spawn)| {
            let ticks = plural(row.main_ticks, "time", "times");
            let threads = plural(row.threads_used as u64, "thread", "threads");
            let (task, notified) = (human_ms(row.task_ms), human_ms(row.notified_after_ms));
            format!(
                "With {spawn}, the background task ran for {task} while the main task ticked \
                 {ticks}, all on {threads}, and had its result {notified} after the task's end."
            )
        })
        .collect();
    let notified = "The main task was never blocked: waiting for I/O needs no thread. The \
                    finished task woke it through its JoinHandle, not at its next tick (select! \
                    waits on both): that wake-up is the notification, as `await task` is for \
                    `asyncio.create_task`.";
    summary.push(notified.into());
    narrator.summary(SECTION, &summary);
    Ok(())
}
