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

/// Time the calling thread has spent ready to run but waiting for a CPU, from the kernel's
/// scheduler statistics (`/proc/thread-self/schedstat`, second field, in ns).
pub(crate) fn run_queue_wait() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let waited = stat
        .split_whitespace()
        .nth(1)
        .and_then(|ns| ns.parse().ok());
    std::time::Duration::from_nanos(waited.unwrap_or(0))
}
