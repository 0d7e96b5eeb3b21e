//! Section 1.6: "a server on the internet that takes a while", on 127.0.0.1: the reply that the
//! first three demos wait for (blocking, busy polling, readiness) arrives `delay` after connect.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use tracing::info_span;

/// What the server sends after the delay.
pub const REPLY: &[u8] = b"here is your data, sorry for the wait\n";

/// Starts a one-shot server on 127.0.0.1, on its own thread, and returns its address: it accepts
/// one connection, waits `delay`, sends [`REPLY`] and closes. (Should no client come, its thread
/// waits in `accept` until the process ends.)
pub fn start(delay: Duration) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name("slow-reply-server".into())
        .spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                // From accept to just before the reply: no reply reaches a client before it closes.
                info_span!("server waits").in_scope(|| std::thread::sleep(delay));
                // The client may have given up already; that is its business.
                let _ = stream.write_all(REPLY);
            }
        })?;
    Ok(addr)
}
