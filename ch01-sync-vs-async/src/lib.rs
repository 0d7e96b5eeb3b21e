#![doc = include_str!("../README.md")]

pub mod cli;
pub mod demos;

pub use cli::{Cli, Demo, Sizes};

/// Runs the demo named on the command line, or all four in the order of the notes.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    use Demo::*;
    let narrator = shared::Narrator::new(&cli.common);
    let mut sizes = cli.sizes.clone();
    sizes.url = cli.common.url.clone();
    let all = [Requests, Background, IoVsCpu, Multitasking];
    for demo in cli.demo.map_or(all.to_vec(), |demo| vec![demo]) {
        // Every demo has the same shape: `run(&Sizes, &Narrator)` narrates `measure(&Sizes)`.
        let run = match demo {
            Requests => demos::requests::run,
            Background => demos::background::run,
            IoVsCpu => demos::io_vs_cpu::run,
            Multitasking => demos::multitasking::run,
        };
        run(&sizes, &narrator)?;
    }
    Ok(())
}
