//! Section 1.6: what stands behind the three echo servers, and the clients that load them.
//!
//! The servers themselves, as the book's listings write them, open `demos/echo_server.rs`. Here:
//! - [`blocking_servers`]: the listener and client sockets of the two blocking servers;
//! - [`nonblocking`] (with [`connection`]): the selector of the single-threaded one, and each
//!   client's buffer;
//! - [`load`]: many clients sending lines and checking every echoed byte;
//! - [`stats`]: what each server counted (clients at once, threads, context switches, ...);
//! - [`out_of_fds`]: what the servers say and do when `accept` runs out of file descriptors.
//!
//! Every server opens a `connection` span per client (`connection 0`, `connection 1`, ...), on
//! the thread that serves it, so a recording shows who was served when, and on which thread.

pub mod blocking_servers;
pub mod connection;
pub mod load;
pub mod nonblocking;
pub mod out_of_fds;
pub mod stats;

use std::io;
use std::net::SocketAddr;

use blocking_servers::BlockingServer;
use nonblocking::NonblockingServer;
use stats::StatsSnapshot;

/// The three servers of the `echo-server` demo. `ServerKind::start` is with the servers, in
/// `demos/echo_server.rs`: this module does not import the lessons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Blocking sockets, one thread, one client at a time.
    OneAtATime,
    /// Blocking sockets, one thread per client.
    ThreadPerConnection,
    /// Non-blocking sockets and mio, one thread for every client.
    SingleThreadNonblocking,
}

impl ServerKind {
    /// All three, in the order the demo runs them.
    pub const ALL: [ServerKind; 3] = [
        ServerKind::OneAtATime,
        ServerKind::ThreadPerConnection,
        ServerKind::SingleThreadNonblocking,
    ];

    /// The measurement name in the report (a public interface: scripts read it).
    pub fn measurement_name(self) -> &'static str {
        match self {
            ServerKind::OneAtATime => "one_at_a_time",
            ServerKind::ThreadPerConnection => "thread_per_connection",
            ServerKind::SingleThreadNonblocking => "single_thread_nonblocking",
        }
    }
}

/// Any of the three servers, running.
pub enum RunningServer {
    /// [`ServerKind::OneAtATime`] or [`ServerKind::ThreadPerConnection`].
    Blocking(BlockingServer),
    /// [`ServerKind::SingleThreadNonblocking`].
    Nonblocking(NonblockingServer),
}

impl RunningServer {
    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        match self {
            RunningServer::Blocking(server) => server.addr(),
            RunningServer::Nonblocking(server) => server.addr(),
        }
    }

    /// The server's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        match self {
            RunningServer::Blocking(server) => server.stats(),
            RunningServer::Nonblocking(server) => server.stats(),
        }
    }

    /// Stops the server and waits for its threads.
    pub fn stop(self) -> io::Result<()> {
        match self {
            RunningServer::Blocking(server) => {
                server.stop();
                Ok(())
            }
            RunningServer::Nonblocking(server) => server.stop(),
        }
    }
}

/// `127.0.0.1:0`: loopback, any free port.
pub fn any_local_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
