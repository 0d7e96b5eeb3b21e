//! Section 1.6: the two classic servers built on *blocking* sockets, for comparison.
//!
//! A blocking `read` halts its thread until the client sends something. So a server with one
//! thread can only talk to one client at a time ([`Policy::OneAtATime`], the book's listings 3.1
//! to 3.3: the next client waits in the kernel's accept queue until the current one leaves), or it
//! spends one thread per client ([`Policy::ThreadPerConnection`]: each thread may block, the
//! others go on; the cost is a thread, its stack and the OS's scheduling, context switches
//! included, for every client).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::info_span;

use super::out_of_fds::{ACCEPT_BACKOFF, OutOfFds};
use super::stats::{EchoStats, StatsSnapshot};

/// A client that sends nothing for this long is dropped, so that no thread waits for ever.
const IDLE_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How a blocking server shares its time between clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// One thread; a client is served from connect to close before the next is accepted.
    OneAtATime,
    /// One thread accepts; every client gets a thread of its own.
    ThreadPerConnection,
}

/// A running blocking server, stopped on drop.
pub struct BlockingServer {
    addr: SocketAddr,
    stats: Arc<EchoStats>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl BlockingServer {
    /// Binds `addr` (port 0 picks a free one) and starts accepting on a new thread.
    pub fn start(addr: SocketAddr, policy: Policy) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(EchoStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (stats, stop) = (Arc::clone(&stats), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("blocking-echo-accept".into())
                .spawn(move || accept_loop(&listener, policy, &stats, &stop))?
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

/// Listing 3.1's `server_socket.accept()` in a loop: each accepted client is served by
/// [`echo_until_eof`], on this thread or on a thread of its own.
fn accept_loop(listener: &TcpListener, policy: Policy, stats: &Arc<EchoStats>, stop: &AtomicBool) {
    let _counted = stats.thread_started();
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    let mut out_of_fds = OutOfFds::default();
    let mut accepted = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _peer)) => stream,
            Err(e) if shared::fdlimit::is_out_of_fds(&e) => {
                out_of_fds.say(&e, stats.snapshot().connected);
                // A blocking accept loop may simply sleep: it has nothing else to do anyway,
                // and the client threads go on serving meanwhile.
                stats.accept_backed_off();
                std::thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
            Err(_) => continue,
        };
        if stop.load(Ordering::SeqCst) {
            break; // the wake-up connection from `shutdown`
        }
        stats.client_connected();
        let n = accepted;
        accepted += 1;
        match policy {
            Policy::OneAtATime => {
                info_span!("connection", n).in_scope(|| echo_until_eof(stream, stats));
                stats.client_left();
            }
            Policy::ThreadPerConnection => {
                let thread_stats = Arc::clone(stats);
                let spawned = std::thread::Builder::new()
                    .name("blocking-echo-client".into())
                    .spawn(move || {
                        let counted = thread_stats.thread_started();
                        info_span!("connection", n)
                            .in_scope(|| echo_until_eof(stream, &thread_stats));
                        drop(counted);
                        thread_stats.client_left();
                    });
                match spawned {
                    Ok(handler) => handlers.push(handler),
                    // Out of threads: this client is dropped (the stream moved into the failed
                    // closure and is closed), the others go on.
                    Err(_) => stats.client_left(),
                }
                handlers.retain(|handler| !handler.is_finished());
            }
        }
    }
    for handler in handlers {
        let _ = handler.join();
    }
}

/// Listing 3.2's `connection.recv` and `sendall` in a loop: echo one client with blocking calls
/// until it closes its side, then close ours. Each `read` halts the thread until the client
/// sends something.
fn echo_until_eof(mut stream: TcpStream, stats: &EchoStats) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_CLIENT_TIMEOUT));
    let mut buffer = [0u8; 16 * 1024];
    loop {
        // This is the call that halts the whole thread until the client sends something.
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).is_err() {
                    stats.dropped_on_error();
                    return;
                }
                stats.echoed(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                stats.dropped_on_error();
                return;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}
