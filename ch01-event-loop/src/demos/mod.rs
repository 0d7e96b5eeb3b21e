//! Section 1.7's demos, one module each, and the dispatcher `cargo run` calls.

pub mod cooperative;
pub mod echo_bench;
pub mod offload;
pub mod requests;
pub mod serve;
pub mod timers;

use serde::Serialize;
use shared::{Narrator, Report, Span};

use crate::cli::{Cli, Demo, Job, Sizes};

/// The notes' section of every demo here.
const SECTION: &str = "1.7";
/// A thread that spent this share of its run ready but waiting for a CPU did not have a core to
/// itself: other programs were using them.
const BUSY_WAIT_SHARE: f64 = 0.1;

/// Runs the demo the command line names, or every demo in the order of the notes.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let narrator = Narrator::new(&cli.common);
    use Demo::*;
    let demos: Vec<Demo> = match &cli.demo {
        Some(demo) => vec![demo.clone()],
        // Every demo but `serve`, in the order of the notes.
        None => vec![Requests, Timers, EchoBench, Cooperative, Offload],
    };
    // `--url` belongs to the options every chapter shares; `requests` reads it with its sizes.
    let sizes = &Sizes {
        url: cli.common.url.clone(),
        ..cli.sizes.clone()
    };
    for demo in demos {
        match demo {
            Requests => requests::run(sizes, &narrator)?,
            Timers => timers::run(sizes, &narrator)?,
            EchoBench => echo_bench::run(sizes, &narrator)?,
            Cooperative => cooperative::run(sizes, &narrator)?,
            Offload => offload::run(sizes, &narrator)?,
            Serve(args) => serve::run(&cli.common, &args, cli.sizes.trace)?,
        }
    }
    Ok(())
}

/// A child process's job (see `main.rs`), and its answer.
pub fn run_job(job: Job) -> anyhow::Result<serde_json::Value> {
    Ok(match job {
        Job::Timers { runtime, count } => serde_json::to_value(timers::child(&runtime, count)?)?,
        Job::Offload(iterations) => offload::cpu_job(iterations).into(),
    })
}

/// What a demo of a list of rows (`timers`, `offload`) measured.
#[derive(Debug, Clone)]
pub struct Rows<R> {
    /// The rows, in the order they ran.
    pub rows: Vec<R>,
    /// The spans recorded in other processes (the children's, asyncio's).
    pub spans: Vec<Span>,
}

/// What a "hand-built loop vs tokio" demo (`requests`, `echo-bench`) measured, one `R` each.
#[derive(Debug, Clone)]
pub struct VsTokio<R> {
    /// The hand-built loop's.
    pub hand_built: R,
    /// tokio's.
    pub tokio: R,
    /// asyncio's, when Python runs.
    pub asyncio: Option<R>,
    /// asyncio's spans, from the Python process.
    pub python_spans: Vec<Span>,
}

impl<R> VsTokio<R> {
    fn new(hand_built: R, tokio: R, asyncio: Option<(R, Vec<Span>)>) -> Self {
        let (asyncio, python_spans) = asyncio.map_or((None, Vec::new()), |(r, s)| (Some(r), s));
        Self {
            hand_built,
            tokio,
            asyncio,
            python_spans,
        }
    }

    /// Each runtime's result: hand-built, tokio, then asyncio's when it ran.
    pub fn rows(&self) -> impl Iterator<Item = &R> {
        let rust = [&self.hand_built, &self.tokio];
        rust.into_iter().chain(&self.asyncio)
    }

    /// Prints the report (each result is its row), then the timeline of `spans` with asyncio's.
    fn report(&self, narrator: &Narrator, demo: &'static str, (title, mut spans): (&str, Vec<Span>))
    where
        R: Serialize + Clone,
    {
        narrator.report(&Report::new(demo, SECTION, self.rows().cloned().collect()));
        spans.extend(self.python_spans.iter().cloned());
        narrator.timeline(title, &spans);
    }
}

/// A fresh tokio current-thread runtime with I/O and timers.
fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    let runtime = builder.enable_all().build();
    anyhow::Context::context(runtime, "could not start a tokio runtime")
}
