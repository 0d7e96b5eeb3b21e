//! Section 1.6, one module per demo, in the order of the notes.

pub mod blocking;
pub mod busy_poll;
pub mod echo_server;
pub mod readiness;
pub mod serve;

use std::time::Duration;

use shared::legacy::Narrator;

use crate::cli::{Demo, Sizes};

/// Runs one demo, narrated.
pub fn run(demo: &Demo, narrator: &Narrator, sizes: &Sizes) -> anyhow::Result<()> {
    let delay = Duration::from_millis(sizes.delay_ms);
    let tick = Duration::from_millis(sizes.tick_ms);
    match demo {
        Demo::Blocking => blocking::run(narrator, delay, tick).map(drop),
        Demo::BusyPoll => busy_poll::run(narrator, delay, tick).map(drop),
        Demo::Readiness => readiness::run(narrator, delay, tick).map(drop),
        Demo::EchoServer => echo_server::run(narrator, echo_server::load_from(sizes)).map(drop),
        Demo::Serve(args) => serve::run(narrator, args),
    }
}

/// Gives up waiting for the slow server after its delay plus this margin (bounded loops only).
pub(crate) const WAIT_MARGIN: Duration = Duration::from_secs(30);
