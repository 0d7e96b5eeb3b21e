//! Section 1.6, `serve`: the single-threaded non-blocking echo server, for real clients.
//!
//! Not part of the default run: it serves until Ctrl-C. Try `nc 127.0.0.1 PORT` in a few
//! terminals at once, or watch its system calls with `strace` (see the README).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use shared::Narrator;

use crate::SECTION;
use crate::cli::ServeArgs;
use crate::echo::nonblocking::EventLoop;
use crate::echo::stats::EchoStats;

/// Binds, prints the address, and serves on this thread until the process is stopped.
pub fn run(narrator: &Narrator, args: &ServeArgs) -> anyhow::Result<()> {
    let wanted = SocketAddr::new(args.host, args.port);
    let listener = std::net::TcpListener::bind(wanted)
        .with_context(|| format!("cannot listen on {wanted}"))?;
    // Hundreds of clients need hundreds of descriptors.
    shared::fdlimit::raise_to_hard_limit();
    let (event_loop, _stop) = EventLoop::new(listener, Arc::new(EchoStats::default()))
        .context("setting up the event loop")?;
    let addr = event_loop.local_addr()?;
    if narrator.is_json() {
        println!(
            "{}",
            serde_json::json!({"demo": "serve", "section": SECTION, "listening": addr.to_string()})
        );
    } else {
        println!("listening on {addr}");
        narrator.say(format!(
            "Echo server: one thread, non-blocking sockets, mio. Try `nc {} {}` (several at \
             once). Ctrl-C stops it.",
            addr.ip(),
            addr.port()
        ));
    }
    event_loop.run().context("the event loop failed")
}
