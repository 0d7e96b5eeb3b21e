//! Section 1.6, one module per demo, in the order of the notes.

pub mod blocking;
pub mod busy_poll;
pub mod echo_server;
pub mod readiness;
pub mod serve;

use std::time::Duration;

use shared::Narrator;

use crate::cli::{Demo, Sizes};

/// Runs one demo, narrated; `narrated` is false with `--json` and `--quiet`.
pub fn run(demo: &Demo, sizes: &Sizes, narrator: &Narrator, narrated: bool) -> anyhow::Result<()> {
    let delay = Duration::from_millis(sizes.delay_ms);
    let tick = Duration::from_millis(sizes.tick_ms);
    match demo {
        Demo::Blocking => blocking::run(delay, tick, narrator).map(drop),
        Demo::BusyPoll => busy_poll::run(delay, tick, narrator).map(drop),
        Demo::Readiness => readiness::run(delay, tick, narrator).map(drop),
        Demo::EchoServer => echo_server::run(sizes, narrator),
        Demo::Serve(args) => serve::run(args, narrator, narrated),
    }
}
