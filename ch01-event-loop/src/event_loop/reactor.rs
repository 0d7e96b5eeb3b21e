//! Section 1.7 (with 1.6 underneath): the reactor is the part of the loop that asks the operating
//! system which sockets are ready, so that no task ever blocks on one.
//!
//! Every socket is registered once with mio's `Poll` (epoll on Linux, kqueue on macOS) for both
//! reading and writing. For each socket the reactor remembers whether it may be readable or
//! writable and which task to wake when it becomes so. mio is *edge-triggered*: the OS reports a
//! socket once when it becomes ready, not again while it stays ready. So a task keeps calling the
//! non-blocking syscall until it says `WouldBlock`; only then does the reactor mark the socket
//! "not ready", keep the task's waker, and answer `Pending`.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Token};

/// The token of the `mio::Waker` that other threads use to end the loop's sleep.
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);
/// Events fetched per wait; more ready sockets are simply reported by the next wait.
const EVENTS_PER_WAIT: usize = 1024;

/// Which half of a socket an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// What the reactor knows about one socket.
struct IoState {
    readable: bool,
    writable: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl IoState {
    fn ready(&mut self, direction: Direction) -> &mut bool {
        match direction {
            Direction::Read => &mut self.readable,
            Direction::Write => &mut self.writable,
        }
    }

    fn waiter(&mut self, direction: Direction) -> &mut Option<Waker> {
        match direction {
            Direction::Read => &mut self.reader,
            Direction::Write => &mut self.writer,
        }
    }
}

/// The OS readiness queue and the state of every registered socket, indexed by token.
pub(crate) struct Reactor {
    poll: mio::Poll,
    events: Events,
    sources: Vec<Option<IoState>>,
    free: Vec<usize>,
}

/// Shared by the loop and every socket (sockets deregister themselves when dropped).
pub(crate) type ReactorHandle = Rc<RefCell<Reactor>>;

impl Reactor {
    pub(crate) fn new() -> io::Result<(Self, mio::Waker)> {
        let poll = mio::Poll::new()?;
        let interrupt = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        let reactor = Self {
            poll,
            events: Events::with_capacity(EVENTS_PER_WAIT),
            sources: Vec::new(),
            free: Vec::new(),
        };
        Ok((reactor, interrupt))
    }

    /// Registers a socket for reading and writing, once, for its whole life.
    pub(crate) fn register(&mut self, source: &mut impl Source) -> io::Result<Token> {
        let index = self.free.pop().unwrap_or_else(|| {
            self.sources.push(None);
            self.sources.len() - 1
        });
        let token = Token(index);
        if let Err(error) =
            self.poll
                .registry()
                .register(source, token, Interest::READABLE | Interest::WRITABLE)
        {
            self.free.push(index);
            return Err(error);
        }
        // "Maybe ready" until a syscall says otherwise: the first read or write just tries.
        self.sources[index] = Some(IoState {
            readable: true,
            writable: true,
            reader: None,
            writer: None,
        });
        Ok(token)
    }

    pub(crate) fn deregister(&mut self, source: &mut impl Source, token: Token) {
        // The socket is closed right after this; an error here changes nothing.
        let _ = self.poll.registry().deregister(source);
        if let Some(slot) = self.sources.get_mut(token.0) {
            *slot = None;
            self.free.push(token.0);
        }
    }

    /// Blocks in the OS until a socket is ready, a thread wakes us, or `timeout` passes. The
    /// events wait in `self.events` for [`wake_ready`](Self::wake_ready).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            // A signal interrupted the wait: not an error, just a short iteration.
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                self.events.clear();
                Ok(())
            }
            result => result,
        }
    }

    /// Marks the sockets of the last [`wait`](Self::wait) ready and wakes their tasks. Returns the
    /// number of socket events.
    pub(crate) fn wake_ready(&mut self) -> u64 {
        let mut count = 0;
        for event in &self.events {
            if event.token() == WAKE_TOKEN {
                continue;
            }
            let Some(Some(state)) = self.sources.get_mut(event.token().0) else {
                continue;
            };
            count += 1;
            // Errors and hang-ups count as readiness: the next syscall reports them.
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                state.readable = true;
                if let Some(waker) = state.reader.take() {
                    waker.wake();
                }
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                state.writable = true;
                if let Some(waker) = state.writer.take() {
                    waker.wake();
                }
            }
        }
        count
    }
}

/// Runs a non-blocking operation on a registered socket: try the syscall while the socket may be
/// ready; on `WouldBlock`, mark it not ready, leave the task's waker, and return `Pending`.
pub(crate) fn poll_io<R>(
    reactor: &ReactorHandle,
    token: Token,
    direction: Direction,
    cx: &mut Context<'_>,
    mut operation: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        {
            let mut reactor = reactor.borrow_mut();
            let Some(Some(state)) = reactor.sources.get_mut(token.0) else {
                return Poll::Ready(Err(io::Error::other("socket is not registered")));
            };
            if !*state.ready(direction) {
                let waiter = state.waiter(direction);
                match waiter.as_ref() {
                    Some(known) if known.will_wake(cx.waker()) => {}
                    _ => *waiter = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
        }
        // The syscall runs without holding the reactor (it never needs it, but stay safe).
        match operation() {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if let Some(Some(state)) = reactor.borrow_mut().sources.get_mut(token.0) {
                    *state.ready(direction) = false;
                }
                // Loop once more: this time we leave the waker and return Pending.
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return Poll::Ready(result),
        }
    }
}
