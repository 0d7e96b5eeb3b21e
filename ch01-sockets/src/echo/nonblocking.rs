//! Section 1.6: the single-threaded non-blocking echo server, built on readiness from the OS.
//!
//! One thread, one `mio::Poll` (epoll on Linux, kqueue on macOS): the book's listing 3.7, where a
//! selector tells one thread which sockets are ready. The thread sleeps in `poll` until the OS
//! reports that some sockets are ready, does the work those sockets allow without blocking, and
//! goes back to sleep. That is how one thread serves hundreds of clients at once: it never waits
//! on one socket while another has something to do.
//!
//! The loop also handles what real servers meet: running out of file descriptors (say so, back
//! off instead of spinning, accept again when a client leaves), clients that reset their
//! connection (drop only that client), and a [`StopHandle`] that wakes the loop from another
//! thread so that tests and demos can stop it.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::info_span;

use super::connection::{Connection, Turn};
use super::out_of_fds::{ACCEPT_BACKOFF, OutOfFds};
use super::stats::{EchoStats, StatsSnapshot};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CLIENT: usize = 2;

/// Stops a running [`EchoLoop`] from any thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl StopHandle {
    /// Asks the loop to return; it wakes up at once even when no socket is ready.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // A failed wake can only mean the loop is gone already.
        let _ = self.waker.wake();
    }
}

/// The server: the poller, the listening socket and every client connection, served by one
/// thread that sleeps in `poll` until some socket is ready.
///
/// It is a loop over readiness events with one fixed job, echoing. Section 1.7 (the
/// `ch01-event-loop` crate) generalises it into an event loop: tasks instead of connections,
/// wakers, timers, and futures that run on it unchanged.
pub struct EchoLoop {
    poll: Poll,
    listener: TcpListener,
    /// `Some(t)`: accepting is paused until `t` (the listener is deregistered meanwhile).
    accept_paused_until: Option<Instant>,
    /// Says "out of file descriptors" at most once per second.
    out_of_fds: OutOfFds,
    connections: HashMap<Token, Connection>,
    next_token: usize,
    /// Connections that stopped only because their turn was over, not because of `WouldBlock`.
    another_turn: Vec<Token>,
    stats: Arc<EchoStats>,
    stop: Arc<AtomicBool>,
}

impl EchoLoop {
    /// Prepares the loop for an already bound listener.
    pub fn new(
        listener: std::net::TcpListener,
        stats: Arc<EchoStats>,
    ) -> io::Result<(Self, StopHandle)> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stop = Arc::new(AtomicBool::new(false));
        let handle = StopHandle {
            waker,
            stop: Arc::clone(&stop),
        };
        let event_loop = Self {
            poll,
            listener,
            accept_paused_until: None,
            out_of_fds: OutOfFds::default(),
            connections: HashMap::new(),
            next_token: FIRST_CLIENT,
            another_turn: Vec::new(),
            stats,
            stop,
        };
        Ok((event_loop, handle))
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Listing 3.7's `while True: for event, _ in selector.select(): ...`: sleep until some
    /// sockets are ready, then accept or echo for each of them, and again, until
    /// [`StopHandle::stop`] is called. Errors of single clients never end it; only an error of
    /// the poller itself does.
    pub fn run(mut self) -> io::Result<()> {
        let stats = Arc::clone(&self.stats);
        let _counted = stats.thread_started();
        let mut events = Events::with_capacity(1024);
        let mut ready = Vec::new();
        while !self.stop.load(Ordering::SeqCst) {
            match self.poll.poll(&mut events, self.poll_timeout()) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            ready.clear();
            ready.extend(events.iter().map(|event| event.token()));
            ready.append(&mut self.another_turn);
            self.resume_accepting_if_due()?;
            for &token in &ready {
                match token {
                    LISTENER => self.accept_all(),
                    WAKER => {} // the loop condition reads the stop flag
                    client => self.serve(client),
                }
            }
        }
        for _ in self.connections.drain() {
            self.stats.client_left();
        }
        Ok(())
    }

    /// Sleep until an event, except when some work is already waiting: more turns to give
    /// (do not sleep at all) or accepting to resume (sleep until then).
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.another_turn.is_empty() {
            return Some(Duration::ZERO);
        }
        self.accept_paused_until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    fn resume_accepting_if_due(&mut self) -> io::Result<()> {
        if let Some(until) = self.accept_paused_until {
            if Instant::now() >= until {
                self.accept_paused_until = None;
                self.poll
                    .registry()
                    .register(&mut self.listener, LISTENER, Interest::READABLE)?;
                // Connections that queued up meanwhile produced no event for us: accept them now.
                self.accept_all();
            }
        }
        Ok(())
    }

    /// Accepts until `WouldBlock`: one readiness edge may stand for many waiting connections.
    fn accept_all(&mut self) {
        while self.accept_paused_until.is_none() {
            match self.listener.accept() {
                Ok((stream, _peer)) => self.add_connection(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    if shared::fdlimit::is_out_of_fds(&e) {
                        self.out_of_fds.say(&e, self.connections.len() as u64);
                    }
                    self.pause_accepting();
                }
            }
        }
    }

    /// Out of file descriptors (EMFILE, ENFILE) or another accept error: retrying at once would
    /// fail again and again and burn the CPU, so stop listening for [`ACCEPT_BACKOFF`] (or until
    /// a client leaves and frees a descriptor) and keep serving the clients we have.
    fn pause_accepting(&mut self) {
        self.stats.accept_backed_off();
        // Without the listener registered, poll cannot report it ready over and over meanwhile.
        let _ = self.poll.registry().deregister(&mut self.listener);
        self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
    }

    fn add_connection(&mut self, mut stream: mio::net::TcpStream) {
        // Echoes are small writes answering small reads: do not let Nagle's algorithm hold them.
        let _ = stream.set_nodelay(true);
        let token = Token(self.next_token);
        self.next_token += 1;
        // One span per connection, entered at each of its turns: the timeline shows it waiting
        // between turns and every connection on the same thread.
        let span = info_span!("connection", n = token.0 - FIRST_CLIENT);
        if self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
            .is_err()
        {
            return; // dropping the stream closes it; the server goes on
        }
        self.stats.client_connected();
        self.connections
            .insert(token, Connection::new(stream, span));
    }

    /// Gives one connection its turn and updates what we ask the OS to watch for it.
    fn serve(&mut self, token: Token) {
        // A token can show up twice in one round (an event and another turn) or after the
        // connection was closed: both are harmless.
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        let outcome = connection.take_turn(&self.stats).and_then(|turn| {
            if turn != Turn::Finished {
                let wanted = connection.wanted_interest();
                if wanted != connection.registered() {
                    self.poll
                        .registry()
                        .reregister(connection.stream_mut(), token, wanted)?;
                    connection.set_registered(wanted);
                }
            }
            Ok(turn)
        });
        match outcome {
            Ok(Turn::WaitForEvents) => {}
            Ok(Turn::AnotherTurn) => self.another_turn.push(token),
            Ok(Turn::Finished) => self.close(token),
            Err(_) => {
                // Reset by the peer, broken pipe, ...: only this client is affected.
                self.stats.dropped_on_error();
                self.close(token);
            }
        }
    }

    fn close(&mut self, token: Token) {
        if let Some(mut connection) = self.connections.remove(&token) {
            let _ = self.poll.registry().deregister(connection.stream_mut());
            self.stats.client_left();
            // A descriptor is free again: if accepting was paused, try at once.
            if self.accept_paused_until.is_some() {
                self.accept_paused_until = Some(Instant::now());
            }
        }
    }
}

/// The event loop running on its own thread, stopped on drop.
pub struct NonblockingServer {
    addr: SocketAddr,
    stats: Arc<EchoStats>,
    stop: StopHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl NonblockingServer {
    /// Binds `addr` (port 0 picks a free one) and starts serving on a new thread.
    pub fn start(addr: SocketAddr) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        let stats = Arc::new(EchoStats::default());
        let (event_loop, stop) = EchoLoop::new(listener, Arc::clone(&stats))?;
        let addr = event_loop.local_addr()?;
        let thread = std::thread::Builder::new()
            .name("nonblocking-echo".into())
            .spawn(move || event_loop.run())?;
        Ok(Self {
            addr,
            stats,
            stop,
            thread: Some(thread),
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

    /// Stops the loop and waits for its thread; returns the loop's own error, if it had one.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.stop.stop();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the echo server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for NonblockingServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
