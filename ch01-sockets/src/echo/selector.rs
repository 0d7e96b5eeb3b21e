//! Section 1.6: what listing 3.7's loop (`single_thread_selector` in `demos/echo_server.rs`)
//! stands on: one `mio::Poll` (epoll, kqueue) with the listener and every client registered.
//! A non-blocking call does only what is possible *now*, and mio reports readiness *edges*
//! (after an event, go on until `WouldBlock` or hear no more of that socket). Kept out of the
//! lesson: partial writes (the rest waits in the client's buffer, `WRITABLE` is watched only
//! while some does), slow readers (over [`MAX_PENDING`] buffered, stop reading from that client
//! until it drained), half-closes (every echo still goes back), resets (only that client is
//! closed), fairness ([`READS_PER_TURN`]), and running out of descriptors (stop listening a
//! moment instead of spinning, and say so).

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind::{ConnectionAborted, Interrupted, WouldBlock};
use std::io::{self, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::info_span;

use super::{ACCEPT_BACKOFF, say_out_of_fds};

/// The listening socket's token: "new clients are waiting to be accepted".
pub const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CLIENT: usize = 2;

/// The most output one client may have buffered before the server stops reading from it.
// mutants: `256 + 1024` is equivalent: any positive bound keeps every byte in order.
pub const MAX_PENDING: usize = 256 * 1024;

/// Reads per turn before a client lets the others have the thread.
pub const READS_PER_TURN: usize = 16;

/// Listing 3.7's `selector`: the poller, the listener and the clients, served by one thread.
pub struct Selector {
    poll: Poll,
    events: Events,
    listener: TcpListener,
    accept_paused_until: Option<Instant>, // the listener is deregistered until then
    out_of_fds_said: Option<Instant>,
    clients: HashMap<Token, Client>,
    next_token: usize,
    another_turn: Vec<Token>, // stopped because their turn was over, not by `WouldBlock`
}

impl Selector {
    /// `selector.register(server_socket, selectors.EVENT_READ)` for a bound listener; also
    /// returns what stops it from any thread (the next [`Selector::select`] says "stop", at once).
    pub fn new(listener: std::net::TcpListener) -> io::Result<(Self, impl Fn() + Send + 'static)> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        // A failed wake can only mean the selector is gone already.
        let stop_it = move || drop(waker.wake());
        let selector = Self {
            poll,
            events: Events::with_capacity(1024),
            listener,
            accept_paused_until: None,
            out_of_fds_said: None,
            clients: HashMap::new(),
            next_token: FIRST_CLIENT,
            another_turn: Vec::new(),
        };
        Ok((selector, stop_it))
    }

    /// `selector.select()`: sleeps until the OS reports sockets ready and returns their tokens,
    /// with the clients owed another turn; `None` once stopped. Only the poller's errors show.
    pub fn select(&mut self) -> io::Result<Option<Vec<Token>>> {
        // Do not sleep with turns owed; sleep only until accepting resumes.
        let timeout = match self.accept_paused_until {
            _ if !self.another_turn.is_empty() => Some(Duration::ZERO),
            Some(until) => Some(until.saturating_duration_since(Instant::now())),
            None => None,
        };
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() != Interrupted => return Err(e),
            // A stop and continue (Ctrl-Z, `fg`) ends `epoll_wait` with EINTR: wait again.
            // mutants: `false` is equivalent here: poll fails in no other way we can provoke.
            _ => {}
        }
        let mut ready: Vec<Token> = self.events.iter().map(|event| event.token()).collect();
        // The waker's event stays pending until a wait reports it, however late: it means stop.
        if ready.contains(&WAKER) {
            return Ok(None);
        }
        ready.append(&mut self.another_turn);
        if matches!(self.accept_paused_until, Some(t) if t <= Instant::now()) {
            self.accept_paused_until = None;
            let registry = self.poll.registry();
            registry.register(&mut self.listener, LISTENER, Interest::READABLE)?;
            // Clients that queued meanwhile gave no new edge: accept them now.
            ready.push(LISTENER);
        }
        Ok(Some(ready))
    }

    /// `server_socket.accept()`: the next waiting client, `None` once none waits (`WouldBlock`).
    /// Out of file descriptors (or any other failure) it says so, stops listening for
    /// [`ACCEPT_BACKOFF`] or until a client leaves, and keeps serving the clients it has.
    pub fn accept(&mut self) -> Option<TcpStream> {
        while self.accept_paused_until.is_none() {
            match self.listener.accept() {
                Ok((stream, _peer)) => return Some(stream),
                Err(e) if e.kind() == WouldBlock => return None,
                // mutants: `false` is equivalent: Linux reports neither from a non-blocking accept.
                Err(e) if matches!(e.kind(), Interrupted | ConnectionAborted) => {}
                Err(e) => {
                    let _paused = info_span!("accept paused").entered();
                    if shared::fdlimit::is_out_of_fds(&e) {
                        say_out_of_fds(&e, &mut self.out_of_fds_said);
                    }
                    // Without the listener registered, poll cannot report it over and over.
                    let _ = self.poll.registry().deregister(&mut self.listener);
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                }
            }
        }
        None
    }

    /// `selector.register(connection, selectors.EVENT_READ)`, with a `connection` span that each
    /// of its turns enters.
    pub fn register(&mut self, mut stream: TcpStream) {
        // Echoes are small writes answering small reads: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let token = Token(self.next_token);
        self.next_token += 1;
        let registry = self.poll.registry();
        if let Ok(()) = registry.register(&mut stream, token, Interest::READABLE) {
            let span = info_span!("connection", n = token.0 - FIRST_CLIENT);
            self.clients.insert(token, Client::new(stream, span));
        } // else dropping the stream closes it; the server goes on
    }

    /// Gives the client behind `token` its turn (`echo`, inside its `connection` span), then
    /// closes it if it is done or broken, or asks for another turn or the events it now needs.
    pub fn turn(&mut self, token: Token, echo: fn(&mut Client) -> io::Result<()>) {
        // A token can come twice in one round (an event and another turn), or after a close.
        let Some(client) = self.clients.get_mut(&token) else {
            return;
        };
        let turn = client.span.clone().in_scope(|| echo(client));
        let keep = turn.and_then(|()| {
            if client.peer_done_writing && client.pending.is_empty() {
                // Everything echoed: tell the client we are done too.
                let _ = client.stream.shutdown(Shutdown::Write);
                return Ok(false);
            }
            if client.reads > READS_PER_TURN {
                // mutants: `>=` only adds a turn that finds WouldBlock
                self.another_turn.push(token);
            }
            client.reads = 0;
            let wanted = client.wanted_interest();
            if wanted != client.registered {
                let registry = self.poll.registry();
                registry.reregister(&mut client.stream, token, wanted)?;
                client.registered = wanted;
            }
            Ok(true)
        });
        if !matches!(keep, Ok(true)) {
            if keep.is_err() {
                // Reset by the peer, broken pipe...: only this client is affected.
                info_span!(parent: &client.span, "dropped").in_scope(|| {});
            }
            if let Some(mut client) = self.clients.remove(&token) {
                let _ = self.poll.registry().deregister(&mut client.stream);
            }
            // A descriptor is free again: if accepting was paused, resume at once.
            self.accept_paused_until = self.accept_paused_until.map(|_| Instant::now());
        }
    }
}

/// One client of the selector: its socket and the bytes read but not yet written back.
#[derive(Debug)]
pub struct Client {
    /// The socket the lesson reads from.
    pub stream: TcpStream,
    span: tracing::Span,              // entered for each turn
    pub(crate) pending: VecDeque<u8>, // read, not yet written back
    /// `recv` returned nothing: the client shut down its sending side.
    pub peer_done_writing: bool,
    pub(crate) paused: bool, // the buffer is over MAX_PENDING
    pub(crate) reads: usize, // this turn's (one more once its share is used up)
    registered: Interest,
}

impl Client {
    pub(crate) fn new(stream: TcpStream, span: tracing::Span) -> Self {
        Self {
            stream,
            span,
            pending: VecDeque::new(),
            peer_done_writing: false,
            paused: false,
            reads: 0,
            registered: Interest::READABLE,
        }
    }

    /// `connection.send(bytes)`: what the socket takes goes now, the rest waits here.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend(bytes);
        self.send_what_fits()
    }

    /// Whether to `recv` again this turn: not after EOF, not over [`MAX_PENDING`] (until the
    /// client reads its echoes), not beyond the turn's share of reads.
    pub fn may_read(&mut self) -> bool {
        if self.peer_done_writing {
            return false;
        }
        if self.pending.len() >= MAX_PENDING {
            if !self.paused {
                self.paused = true;
                info_span!("read paused", buffered = self.pending.len()).in_scope(|| {});
            }
            return false;
        }
        // Below the bound again: data that arrived meanwhile gave no new edge, so read now.
        self.paused = false;
        self.reads += 1;
        self.reads <= READS_PER_TURN
    }

    /// `connection.send(data)`: writes what the socket takes now; the rest stays buffered.
    pub fn send_what_fits(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            match self.stream.write(self.pending.as_slices().0) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => drop(self.pending.drain(..n)),
                Err(e) if e.kind() == WouldBlock => break,
                // mutants: `false` is equivalent: a non-blocking write never waits, so no EINTR.
                Err(e) if e.kind() == Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Readable while reading, writable only while output is pending (a writable-interest on
    /// an idle socket would wake us for nothing).
    // mutants: `||` for `&&` is equivalent: it only asks for events a paused turn ignores.
    pub fn wanted_interest(&self) -> Interest {
        let reading = !self.peer_done_writing && !self.paused;
        match (reading, !self.pending.is_empty()) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (true, false) => Interest::READABLE,
            // Not reading means paused (so output is pending) or EOF with output still pending.
            (false, _) => Interest::WRITABLE,
        }
    }
}
