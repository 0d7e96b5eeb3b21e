//! Section 1.6: what stands behind the single-threaded non-blocking echo server.
//!
//! The server itself, listing 3.7's `while True: for event in selector.select(): ...`, is the
//! lesson and lives in `demos/echo_server.rs` (`single_thread_selector`). Here is the
//! [`Selector`] it drives: one `mio::Poll` (epoll on Linux, kqueue on macOS) with the listening
//! socket and every client registered, and what each of its three steps has to get right:
//! - [`Selector::select`] sleeps until the OS reports some sockets ready;
//! - [`Selector::accept_all`] accepts until `WouldBlock`; out of file descriptors it says so,
//!   stops listening for a moment instead of spinning, and accepts again when a client leaves;
//! - [`Selector::echo`] gives one client its turn ([`super::connection`]: partial writes, slow
//!   readers, half-closes), and drops only that client if its connection is reset.
//!
//! A [`StopHandle`] wakes the selector from another thread so that tests and demos can stop it;
//! [`NonblockingServer`] runs the lesson's server (handed to it: this module does not know the
//! lessons) on a thread of its own.

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

/// The listening socket's token: "new clients are waiting to be accepted".
pub const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CLIENT: usize = 2;

/// Stops a running [`Selector`] from any thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl StopHandle {
    /// Makes the next [`Selector::select`] say "stop"; it wakes up at once even when no socket is
    /// ready.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // A failed wake can only mean the selector is gone already.
        let _ = self.waker.wake();
    }
}

/// Listing 3.7's `selector`, with the server socket and every client registered: the poller,
/// the listening socket and the client connections, all served by the one thread that calls
/// [`Selector::select`].
///
/// Driven by a loop over readiness events with one fixed job, echoing. Section 1.7 (the
/// `ch01-event-loop` crate) generalises that loop into an event loop: tasks instead of
/// connections, wakers, timers, and futures that run on it unchanged.
pub struct Selector {
    poll: Poll,
    events: Events,
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

impl Selector {
    /// Registers an already bound listener with a new poller.
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
        let selector = Self {
            poll,
            events: Events::with_capacity(1024),
            listener,
            accept_paused_until: None,
            out_of_fds: OutOfFds::default(),
            connections: HashMap::new(),
            next_token: FIRST_CLIENT,
            another_turn: Vec::new(),
            stats,
            stop,
        };
        Ok((selector, handle))
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Listing 3.7's `selector.select()`: sleeps until the OS reports some sockets ready, and
    /// puts their tokens in `ready` ([`LISTENER`] or a client's), together with the clients that
    /// had to stop before `WouldBlock` and are owed another turn. `Ok(false)`, without waiting,
    /// once [`StopHandle::stop`] was called. Errors of single clients never show here; only an
    /// error of the poller itself does.
    pub fn select(&mut self, ready: &mut Vec<Token>) -> io::Result<bool> {
        ready.clear();
        if self.stop.load(Ordering::SeqCst) {
            return Ok(false);
        }
        loop {
            let timeout = self.poll_timeout();
            match self.poll.poll(&mut self.events, timeout) {
                // A stop and continue (Ctrl-Z, `fg`) ends `epoll_wait` with EINTR: wait again.
                // mutants: `true` is equivalent here: poll fails in no other way we can provoke.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        // The waker's token only ends the wait: the stop flag is read on the next call.
        ready.extend(
            self.events
                .iter()
                .map(|event| event.token())
                .filter(|&token| token != WAKER),
        );
        ready.append(&mut self.another_turn);
        self.resume_accepting_if_due()?;
        Ok(true)
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

    /// Listing 3.7's `server_socket.accept()`, then `selector.register(connection, ...)`, for
    /// every waiting client: until `WouldBlock`, as one readiness edge may stand for many.
    pub fn accept_all(&mut self) {
        while self.accept_paused_until.is_none() {
            match self.listener.accept() {
                Ok((stream, _peer)) => self.add_connection(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // mutants: `false` is equivalent in what clients see: Linux reports neither error
                // from a non-blocking accept, and it would only make the server back off once.
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

    /// Listing 3.7's `recv` and `send` for one ready client: everything its socket allows now
    /// without blocking (see [`Connection::take_turn`]), then updates what we ask the OS to
    /// watch for it. A broken connection is closed; the other clients never notice.
    pub fn echo(&mut self, token: Token) {
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

impl Drop for Selector {
    fn drop(&mut self) {
        // The clients still connected are closed with the selector.
        for _ in self.connections.drain() {
            self.stats.client_left();
        }
    }
}

/// The lesson's `single_thread_selector` running on its own thread, stopped on drop.
pub struct NonblockingServer {
    addr: SocketAddr,
    stats: Arc<EchoStats>,
    stop: StopHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl NonblockingServer {
    /// Binds `addr` (port 0 picks a free one) and starts `serve` (the lesson's
    /// `single_thread_selector`) on a new thread.
    pub fn start(addr: SocketAddr, serve: fn(Selector) -> io::Result<()>) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        let stats = Arc::new(EchoStats::default());
        let (selector, stop) = Selector::new(listener, Arc::clone(&stats))?;
        let addr = selector.local_addr()?;
        let thread = {
            let stats = Arc::clone(&stats);
            std::thread::Builder::new()
                .name("nonblocking-echo".into())
                .spawn(move || {
                    let _counted = stats.thread_started();
                    serve(selector)
                })?
        };
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

    /// Stops the server and waits for its thread; returns the poller's error, if it had one.
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
