//! Section 1.6, one module per demo, in the order of the notes.

pub mod blocking;
pub mod busy_poll;
pub mod echo_server;
pub mod readiness;
pub mod serve;

use anyhow::Context as _;
use shared::Span;

/// The first span called `name`: the wait a demo measures.
fn the_span(spans: &[Span], name: &str) -> anyhow::Result<Span> {
    let first = spans.iter().find(|span| span.name == name);
    first.cloned().with_context(|| format!("no `{name}` span"))
}
