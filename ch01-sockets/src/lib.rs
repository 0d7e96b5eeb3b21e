#![doc = include_str!("../README.md")]

pub mod cli;
pub mod demos;
pub mod echo;
pub mod load;
pub mod waits;

use shared::Narrator;

use cli::Cli;
use cli::Demo::{Blocking, BusyPoll, EchoServer, Readiness, Serve};

/// The section of the notes every demo here shows.
pub const SECTION: &str = "1.6";

/// Runs the demo the command line asks for, or the four default demos in order.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    if let Some(url) = &cli.common.url {
        anyhow::bail!("--url {url} is not used: these demos talk to local sockets");
    }
    let narrator = Narrator::new(&cli.common);
    let chosen = match &cli.demo {
        Some(demo) => std::slice::from_ref(demo),
        None => &[Blocking, BusyPoll, Readiness, EchoServer],
    };
    let (sizes, narrator) = (&cli.sizes, &narrator);
    for demo in chosen {
        match demo {
            Blocking => demos::blocking::run(sizes, narrator),
            BusyPoll => demos::busy_poll::run(sizes, narrator),
            Readiness => demos::readiness::run(sizes, narrator),
            EchoServer => demos::echo_server::run(sizes, narrator),
            Serve(args) => demos::serve::run(args, narrator),
        }?;
    }
    Ok(())
}
