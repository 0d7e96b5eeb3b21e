//! Section 1.6: what stands behind the two blocking echo servers of `demos/echo_server.rs`.
//!
//! The servers themselves (`one_at_a_time`, `thread_per_client`) are the lesson and live in
//! that demo file. Here is what they call without having to think about it:
//! - [`Listener`]: a blocking listening socket whose `accept` counts the clients, says so and
//!   backs off when the process is out of file descriptors, and ends when the server is stopped;
//! - [`Client`]: an accepted socket that counts the bytes echoed and the connections that broke;
//! - [`BlockingServer`]: runs a server function on a thread of its own until stopped.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::out_of_fds::{ACCEPT_BACKOFF, OutOfFds};
use super::stats::{EchoStats, ServerThread, StatsSnapshot};

/// A client that sends nothing for this long is dropped, so that no thread waits for ever.
const IDLE_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A blocking listening socket, as the blocking servers see it.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    stats: Arc<EchoStats>,
    stop: Arc<AtomicBool>,
    out_of_fds: OutOfFds,
}

impl Listener {
    /// Blocks until a client connects (listing 3.1's `server_socket.accept()`); `None` once the
    /// server is asked to stop. Out of file descriptors it says so, sleeps a moment and tries
    /// again: a blocking accept loop has nothing else to do meanwhile, and threads already
    /// serving clients go on.
    pub fn accept(&mut self) -> Option<Client> {
        while !self.stop.load(Ordering::SeqCst) {
            let stream = match self.socket.accept() {
                Ok((stream, _peer)) => stream,
                Err(e) if shared::fdlimit::is_out_of_fds(&e) => {
                    self.out_of_fds.say(&e, self.stats.snapshot().connected);
                    self.stats.accept_backed_off();
                    std::thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
                Err(_) => continue,
            };
            if self.stop.load(Ordering::SeqCst) {
                break; // the wake-up connection from `BlockingServer::stop`
            }
            return Some(Client::new(stream, Arc::clone(&self.stats)));
        }
        None
    }

    /// Every client, until the server is stopped: `for client in listener.incoming()`.
    pub fn incoming(&mut self) -> impl Iterator<Item = Client> + '_ {
        std::iter::from_fn(move || self.accept())
    }
}

/// One accepted client of a blocking server: reads block (up to a generous idle timeout),
/// writes are counted as echoed bytes, and the client counts as connected until dropped.
///
/// Whichever thread reads from it is one of the server's threads: a thread of its own (thread
/// per client) is counted from its first read until the client is dropped, which therefore must
/// happen on that same thread.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    stats: Arc<EchoStats>,
    /// Counts a thread of its own, if it has one.
    thread: Option<ServerThread>,
    thread_checked: bool,
    /// A read or write failed (reset, broken pipe, idle timeout): counted when dropped.
    broken: bool,
}

impl Client {
    fn new(stream: TcpStream, stats: Arc<EchoStats>) -> Self {
        // Echoes are small writes answering small reads: do not let Nagle's algorithm hold them.
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(IDLE_CLIENT_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IDLE_CLIENT_TIMEOUT));
        stats.client_connected();
        Self {
            stream,
            stats,
            thread: None,
            thread_checked: false,
            broken: false,
        }
    }

    fn failed(&mut self, e: io::Error) -> io::Error {
        self.broken = true;
        e
    }
}

impl Read for Client {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if !self.thread_checked {
            self.thread_checked = true;
            self.thread = self.stats.thread_started_unless_counted();
        }
        loop {
            return match self.stream.read(buffer) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(self.failed(e)),
                Ok(n) => Ok(n),
            };
        }
    }
}

impl Write for Client {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.stream.write(bytes) {
            Ok(n) => {
                if n == 0 && !bytes.is_empty() {
                    self.broken = true; // `write_all` turns this into an error
                }
                self.stats.echoed(n);
                Ok(n)
            }
            // `write_all` retries these itself.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.broken {
            self.stats.dropped_on_error();
        }
        self.stats.client_left();
        // `self.thread`, dropped right after, stops counting this thread's context switches.
    }
}

/// A blocking server running on a thread of its own, stopped on drop.
pub struct BlockingServer {
    addr: SocketAddr,
    stats: Arc<EchoStats>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl BlockingServer {
    /// Binds `addr` (port 0 picks a free one) and runs `serve` (one of the lesson's servers) on
    /// a new thread, counted as one of the server's threads.
    pub fn start(addr: SocketAddr, serve: fn(Listener)) -> io::Result<Self> {
        let socket = TcpListener::bind(addr)?;
        let addr = socket.local_addr()?;
        let stats = Arc::new(EchoStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let listener = Listener {
            socket,
            stats: Arc::clone(&stats),
            stop: Arc::clone(&stop),
            out_of_fds: OutOfFds::default(),
        };
        let acceptor = {
            let stats = Arc::clone(&stats);
            std::thread::Builder::new()
                .name("blocking-echo-accept".into())
                .spawn(move || {
                    let _counted = stats.thread_started();
                    serve(listener);
                })?
        };
        Ok(Self {
            addr,
            stats,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops accepting, waits for the clients being served and for every thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // `accept` blocks: the only way to wake it is a connection. It notices the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = acceptor.join();
    }
}

impl Drop for BlockingServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
