//! Section 1.7's demos, one module each, and the dispatcher `cargo run` calls.

pub mod cooperative;
pub mod echo_bench;
pub mod offload;
pub mod requests;
pub mod serve;
pub mod timers;

use shared::Narrator;

use crate::cli::{Cli, Demo, Job, Sizes};

/// Runs the demo the command line names, or every demo in the order of the notes.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let narrator = Narrator::new(&cli.common);
    let demos: Vec<Demo> = match &cli.demo {
        Some(demo) => vec![demo.clone()],
        None => Demo::ALL.to_vec(),
    };
    // `--url` and `--no-python` belong to the options every chapter shares; the demos read them
    // with their sizes. `serve` alone needs no Python.
    let sizes = &Sizes {
        url: cli.common.url.clone(),
        python: demos
            .iter()
            .any(|demo| !matches!(demo, Demo::Serve(_)))
            .then(shared::narrate::python)
            .flatten(),
        ..cli.sizes.clone()
    };
    for demo in demos {
        match demo {
            Demo::Requests => requests::run(sizes, &narrator)?,
            Demo::Timers => timers::run(sizes, &narrator)?,
            Demo::EchoBench => echo_bench::run(sizes, &narrator)?,
            Demo::Cooperative => cooperative::run(sizes, &narrator)?,
            Demo::Offload => offload::run(sizes, &narrator)?,
            Demo::Serve(args) => serve::run(&cli.common, &args, cli.sizes.trace)?,
        }
    }
    Ok(())
}

/// A child process's job (see `main.rs`), and its answer.
pub fn run_job(job: Job) -> anyhow::Result<serde_json::Value> {
    Ok(match job {
        Job::Timers { runtime, count } => serde_json::to_value(timers::child(runtime, count)?)?,
        Job::Offload { iterations } => offload::cpu_job(iterations).into(),
    })
}
