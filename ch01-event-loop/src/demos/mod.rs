//! Section 1.7's demos, one module each, and the dispatcher `cargo run` calls.

pub mod cooperative;
pub mod echo_bench;
pub mod offload;
pub mod requests;
pub mod serve;
pub mod timers;

use shared::Narrator;

use crate::cli::{Cli, Demo};

/// Runs the demo the command line names, or every demo in the order of the notes.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let narrator = Narrator::new(&cli.common);
    let demos: Vec<Demo> = match &cli.demo {
        Some(demo) => vec![demo.clone()],
        None => Demo::ALL.to_vec(),
    };
    for demo in demos {
        match demo {
            Demo::Requests => drop(requests::run(
                &narrator,
                &cli.sizes,
                cli.common.url.as_ref(),
            )?),
            Demo::Timers => timers::run(&narrator, &cli.sizes)?,
            Demo::EchoBench => echo_bench::run(&narrator, &cli.sizes)?,
            Demo::Cooperative => drop(cooperative::run(&narrator, &cli.sizes)?),
            Demo::Offload => drop(offload::run(&narrator, &cli.sizes)?),
            Demo::OffloadChild { iterations } => offload::child(iterations)?,
            Demo::Serve(args) => serve::run(&cli.common, &args, cli.sizes.trace)?,
            Demo::TimersChild { runtime } => timers::child(runtime, cli.sizes.count)?,
        }
    }
    Ok(())
}
