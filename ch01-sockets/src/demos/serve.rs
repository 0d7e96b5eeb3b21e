//! Section 1.6, `serve`: the single-threaded non-blocking echo server, for real clients.
//!
//! The server is `single_thread_selector` from `echo_server.rs` (listing 3.7), the one the
//! `echo-server` demo measures; this file only binds, prints the address and runs it.
//!
//! Not part of the default run: it serves until Ctrl-C. Try `nc 127.0.0.1 PORT` in a few
//! terminals at once, or watch its system calls with `strace` (see the README). Out of file
//! descriptors, it says so on standard error and goes on serving the clients it has.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use shared::Narrator;

use crate::SECTION;
use crate::cli::ServeArgs;
use crate::demos::echo_server::single_thread_selector;
use crate::echo::selector::Selector;

/// Binds, prints the address, and serves on this thread until the process is stopped.
pub fn run(args: &ServeArgs, narrator: &Narrator, narrated: bool) -> anyhow::Result<()> {
    let wanted = SocketAddr::new(args.host, args.port);
    let listener = std::net::TcpListener::bind(wanted)
        .with_context(|| format!("cannot listen on {wanted}"))?;
    // Hundreds of clients need hundreds of descriptors.
    shared::fdlimit::raise_to_hard_limit();
    let (selector, _stop) = Selector::new(listener).context("setting up the echo server")?;
    let addr = selector.local_addr()?;
    // `writeln!` instead of `println!`: if whoever started us closed our standard output, the
    // server keeps serving instead of panicking on a failed print.
    let mut out = std::io::stdout().lock();
    let _ = if narrator.json() {
        let line =
            serde_json::json!({"demo": "serve", "section": SECTION, "listening": addr.to_string()});
        writeln!(out, "{line}")
    } else {
        writeln!(out, "listening on {addr}")
    };
    if narrated {
        let _ = writeln!(
            out,
            "Echo server: one thread, non-blocking sockets, mio. Try `nc {} {}` (several at \
             once). Ctrl-C stops it.",
            addr.ip(),
            addr.port()
        );
    }
    let _ = out.flush();
    drop(out);
    // The same server the `echo-server` demo measures: listing 3.7's loop, on this thread.
    single_thread_selector(selector).context("the echo server failed")
}
