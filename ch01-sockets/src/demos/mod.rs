//! Section 1.6, one module per demo, in the order of the notes.

pub mod blocking;
pub mod busy_poll;
pub mod echo_server;
pub mod readiness;
pub mod serve;

use anyhow::Context as _;
use shared::{Narrator, Span};

use crate::cli::{Demo, Sizes};

/// Runs one demo, narrated; `narrated` is false with `--json` and `--quiet`.
pub fn run(demo: &Demo, sizes: &Sizes, narrator: &Narrator, narrated: bool) -> anyhow::Result<()> {
    match demo {
        Demo::Blocking => blocking::run(sizes, narrator),
        Demo::BusyPoll => busy_poll::run(sizes, narrator),
        Demo::Readiness => readiness::run(sizes, narrator),
        Demo::EchoServer => echo_server::run(sizes, narrator),
        Demo::Serve(args) => serve::run(args, narrator, narrated),
    }
}

/// The first span called `name`: the wait a demo measures.
fn the_span(spans: &[Span], name: &str) -> anyhow::Result<Span> {
    let first = spans.iter().find(|span| span.name == name);
    first.cloned().with_context(|| format!("no `{name}` span"))
}
