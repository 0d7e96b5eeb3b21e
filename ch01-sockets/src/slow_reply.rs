//! Section 1.6: a tiny local TCP server that answers one client after a delay.
//!
//! It stands in for "a server on the internet that takes a while": the client connects, and the
//! reply arrives only `delay` later. Waiting for that reply is what section 1.6's demos do in
//! three ways (blocking, busy polling, readiness).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tracing::info_span;

/// What the server sends after the delay.
pub const REPLY: &[u8] = b"here is your data, sorry for the wait\n";

/// If nobody connects within this time, the server gives up (no thread waits for ever).
const ACCEPT_DEADLINE: Duration = Duration::from_secs(30);

/// The span around the server's delay: it opens once the client is accepted and closes just
/// before the reply is written, so no reply can reach a client before this span has closed.
pub const SERVER_WAITS: &str = "server waits";

/// A one-shot server on 127.0.0.1 with an ephemeral port, on its own thread.
#[derive(Debug)]
pub struct SlowReply {
    addr: SocketAddr,
}

impl SlowReply {
    /// Starts the server: it accepts one connection, waits `delay`, sends [`REPLY`] and closes.
    pub fn start(delay: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        // Non-blocking accept with a deadline, so that the thread ends even if no client comes.
        listener.set_nonblocking(true)?;
        std::thread::Builder::new()
            .name("slow-reply-server".into())
            .spawn(move || serve_once(listener, delay))?;
        Ok(Self { addr })
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn serve_once(listener: TcpListener, delay: Duration) {
    // Wait for the client through readiness (no polling loop), giving up after the deadline.
    let Some(mut stream) = accept_within(listener, ACCEPT_DEADLINE) else {
        return;
    };
    info_span!("server waits").in_scope(|| std::thread::sleep(delay));
    // The client may have given up already; that is its business.
    let _ = stream.write_all(REPLY);
}

fn accept_within(listener: TcpListener, deadline: Duration) -> Option<TcpStream> {
    let mut listener = mio::net::TcpListener::from_std(listener);
    let mut poll = mio::Poll::new().ok()?;
    poll.registry()
        .register(&mut listener, mio::Token(0), mio::Interest::READABLE)
        .ok()?;
    let mut events = mio::Events::with_capacity(1);
    let give_up = Instant::now() + deadline;
    while Instant::now() < give_up {
        match listener.accept() {
            Ok((stream, _)) => {
                let stream = TcpStream::from(stream);
                stream.set_nonblocking(false).ok()?;
                return Some(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = give_up.saturating_duration_since(Instant::now());
                // An error here (EINTR) just means: try accept again.
                let _ = poll.poll(&mut events, Some(left));
            }
            Err(_) => return None,
        }
    }
    None
}
