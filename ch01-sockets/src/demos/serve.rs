//! Section 1.6, `serve`: listing 3.7's `single_thread_selector`, as measured by `echo-server`,
//! for real clients until Ctrl-C. Try `nc 127.0.0.1 PORT` in a few terminals at once, or `strace`
//! it (see the README). Out of descriptors, it says so and serves the clients it has.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use serde_json::json;
use shared::Narrator;

use crate::demos::echo_server::single_thread_selector;
use crate::echo::selector::Selector;
use crate::{SECTION, cli::ServeArgs};

/// Binds, prints the address, and serves on this thread until the process is stopped.
pub fn run(args: &ServeArgs, narrator: &Narrator) -> anyhow::Result<()> {
    let wanted = SocketAddr::new(args.host, args.port);
    let listener = std::net::TcpListener::bind(wanted)
        .with_context(|| format!("cannot listen on {wanted}"))?;
    let addr = listener.local_addr()?;
    // Hundreds of clients need hundreds of descriptors.
    shared::fdlimit::raise_to_hard_limit();
    let (selector, _stop) = Selector::new(listener).context("setting up the echo server")?;
    let line = match narrator.json() {
        true => json!({"demo": "serve", "section": SECTION, "listening": addr}).to_string(),
        false => format!("listening on {addr}"),
    };
    // `writeln!` instead of `println!`: if whoever started us closed our standard output, the
    // server keeps serving instead of panicking on a failed print.
    let _ = writeln!(std::io::stdout(), "{line}");
    narrator.say(format!(
        "Echo server: one thread, non-blocking sockets, mio. Try `nc {} {}` (several at once). \
         Ctrl-C stops it.",
        addr.ip(),
        addr.port()
    ));
    single_thread_selector(selector).context("the echo server failed")
}
