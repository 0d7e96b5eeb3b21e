//! Section 1.7's demos, one module each, and the dispatcher `cargo run` calls.

pub mod cooperative;
pub mod echo_bench;
pub mod offload;
pub mod requests;
pub mod serve;
pub mod timers;

use shared::{Narrator, Recording, Span};

use crate::cli::{Cli, Demo, Sizes};

/// Runs the demo the command line names, or every demo in the order of the notes.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let narrator = Narrator::new(&cli.common);
    let demos: Vec<Demo> = match &cli.demo {
        Some(demo) => vec![demo.clone()],
        None => Demo::ALL.to_vec(),
    };
    // `--url` belongs to the options every chapter shares; `requests` reads it with its sizes.
    let sizes = &Sizes {
        url: cli.common.url.clone(),
        ..cli.sizes.clone()
    };
    for demo in demos {
        match demo {
            Demo::Requests => requests::run(sizes, &narrator)?,
            Demo::Timers => timers::run(sizes, &narrator)?,
            Demo::EchoBench => echo_bench::run(sizes, &narrator)?,
            Demo::Cooperative => cooperative::run(sizes, &narrator)?,
            Demo::Offload => offload::run(sizes, &narrator)?,
            Demo::OffloadChild { iterations } => offload::child(iterations)?,
            Demo::Serve(args) => serve::run(&cli.common, &args, cli.sizes.trace)?,
            Demo::TimersChild { runtime } => timers::child(runtime, cli.sizes.count)?,
        }
    }
    Ok(())
}

/// Records `work` with a progress bar counting `span_name` spans.
pub(crate) fn record<T>(
    narrator: &Narrator,
    what: &str,
    span_name: &'static str,
    total: Option<u64>,
    work: impl FnOnce() -> T,
) -> (T, Vec<Span>) {
    let recording = Recording::start();
    let progress = narrator.progress(&recording, what, span_name, total);
    let value = work();
    drop(progress);
    (value, recording.finish())
}
