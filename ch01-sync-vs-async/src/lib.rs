#![doc = include_str!("../README.md")]

pub mod cli;
pub mod demos;

pub use cli::{Cli, Demo, Sizes};

use shared::Narrator;

/// Runs the demo named on the command line, or all four in the order of the notes.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    let narrator = Narrator::new(&cli.common);
    let sizes = Sizes {
        url: cli.common.url.clone(),
        ..cli.sizes.clone()
    };
    let chosen = cli.demo.map_or(Demo::ALL.to_vec(), |demo| vec![demo]);
    for demo in chosen {
        // Every demo has the same shape: `run(&Sizes, &Narrator)` narrates `measure(&Sizes)`.
        let run = match demo {
            Demo::Requests => demos::requests::run,
            Demo::Background => demos::background::run,
            Demo::IoVsCpu => demos::io_vs_cpu::run,
            Demo::Multitasking => demos::multitasking::run,
        };
        run(&sizes, &narrator)?;
    }
    Ok(())
}
