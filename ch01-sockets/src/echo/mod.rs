//! Section 1.6: the robust parts the echo servers of `demos/echo_server.rs` call, so that the
//! lesson stays the book's listings: [`incoming`] (a blocking accept loop that waits out a
//! shortage of descriptors), [`selector`] (listing 3.7's selector, each client's buffer) and
//! [`Running`] (a server on its own thread until stopped). Nothing here counts: each server opens
//! a `connection` span per client; rare events are spans too (`accept paused`, `read paused`...).

pub mod selector;

use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shared::Span;
use shared::trace::named;
use tracing::info_span;

/// The most `connection` spans open at one instant: the clients a server had at once.
pub fn most_at_once(spans: &[Span]) -> u64 {
    let connections = named(spans, "connection");
    // The count peaks as one opens; one that closed at that very instant was not open with it.
    let open_at = |at| {
        let open = |s: &&&Span| s.opened <= at && at < s.closed;
        connections.iter().filter(open).count()
    };
    let counts = connections.iter().map(|span| open_at(span.opened));
    counts.max().unwrap_or(0) as u64
}

/// How long to stop accepting after `accept` failed. Retrying at once would fail again at once:
/// a loop that only does that burns a core. Queued clients wait in the kernel meanwhile.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Listing 3.1's `server_socket.accept()` for ever, numbering the clients: until the listener is
/// shut down (see [`Running::stop`]). Out of file descriptors it says so, sleeps a moment and
/// tries again: a blocking accept loop has nothing else to do, and client threads go on.
pub fn incoming(listener: &TcpListener) -> impl Iterator<Item = (usize, TcpStream)> + '_ {
    let mut said_at = None;
    (0..).map_while(move |n| {
        loop {
            match listener.accept() {
                Ok((stream, _peer)) => {
                    // Echoes are small writes answering small reads: no Nagle delay.
                    let _ = stream.set_nodelay(true);
                    return Some((n, stream));
                }
                Err(e) if shared::fdlimit::is_out_of_fds(&e) => {
                    let _paused = info_span!("accept paused").entered();
                    say_out_of_fds(&e, &mut said_at);
                    std::thread::sleep(ACCEPT_BACKOFF);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Shut down (EINVAL): the server is stopping.
                Err(_) => return None,
            }
        }
    })
}

/// Says on standard error why `accept` fails (`EMFILE`, or `ENFILE` for the whole system), at
/// most once per second (`last_said`): the kernel still queues new clients, who would just hang.
pub fn say_out_of_fds(error: &io::Error, last_said: &mut Option<Instant>) {
    if last_said.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
        return;
    }
    *last_said = Some(Instant::now());
    let who = match error.raw_os_error() {
        Some(libc::ENFILE) => "the whole system is",
        _ => "this process is",
    };
    let soft = shared::fdlimit::soft_limit().map_or("unknown".into(), |n| n.to_string());
    // Standard error may be closed: the server keeps serving all the same.
    let _ = writeln!(
        io::stderr(),
        "echo server: {who} out of file descriptors ({error}; `ulimit -n` is {soft}). Still \
         serving the clients connected; new clients wait in the queue until one leaves."
    );
}

/// One of the lesson's servers on a thread of its own (inside a `server` span), until stopped.
pub struct Running {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Stops accepting: shuts a blocking listener down (ending [`incoming`]) or wakes the selector.
    pub(crate) stop: Box<dyn Fn() + Send>,
    pub(crate) thread: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    /// Stops accepting, waits for the server (a blocking one finishes the clients it serves);
    /// returns the server's error, if it had one. Dropping it does the same.
    pub fn stop(&mut self) -> io::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        (self.stop)();
        thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the echo server thread panicked")))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
