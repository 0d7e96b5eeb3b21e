//! Section 1.7 (with 1.6 underneath): the reactor asks the OS which sockets are ready, so that
//! no task ever blocks on one (Python's `selectors`, which asyncio's loop calls every iteration).
//!
//! Each socket is registered once with mio's `Poll` (epoll on Linux, kqueue on macOS), for reading
//! and writing, under a token: its slot in `sockets`. mio is *edge-triggered*: the OS reports a
//! socket when it becomes ready, not again while it stays ready. So an operation tries the
//! non-blocking syscall until it says `WouldBlock` (or reads or writes less than asked: the socket
//! is drained); only then does the task leave its waker here, for the next edge.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::{Events, Interest, Token};
use slab::Slab;

/// The token of the `mio::Waker` with which other threads end the loop's sleep.
pub(crate) const INTERRUPT: Token = Token(usize::MAX);

/// Which half of a socket an operation needs: an index into a socket's two waiters.
pub(crate) const READ: usize = 0;
pub(crate) const WRITE: usize = 1;

/// One direction of one socket: whether the OS has said "nothing now" since its last edge, and
/// who waits for the next one. Once closed (end of stream, reset), no further edge will come,
/// so it never blocks again: the syscall reports what happened.
#[derive(Default)]
struct Half {
    blocked: bool,
    closed: bool,
    waiter: Option<Waker>,
}

/// The OS readiness queue and, per registered socket (a slab, like the tasks), its reading and
/// writing halves.
pub(crate) struct Reactor {
    poll: mio::Poll,
    events: Events,
    sockets: Slab<[Half; 2]>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<(Self, mio::Waker)> {
        let poll = mio::Poll::new()?;
        let interrupt = mio::Waker::new(poll.registry(), INTERRUPT)?;
        let (events, sockets) = (Events::with_capacity(1024), Slab::new());
        let reactor = Self {
            poll,
            events,
            sockets,
        };
        Ok((reactor, interrupt))
    }

    /// Blocks in the OS until a socket is ready, a thread pokes the interrupt, or `timeout`
    /// passes (`None`: no timer is pending, wait for I/O alone).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.poll.poll(&mut self.events, timeout)
    }

    /// Wakes the tasks waiting on the sockets of the last [`wait`](Self::wait); returns how many
    /// socket events there were. An error wakes both halves, and the syscall reports it.
    pub(crate) fn wake_ready(&mut self) -> u64 {
        let mut count = 0;
        for event in &self.events {
            let Some(halves) = self.sockets.get_mut(event.token().0) else {
                continue; // the interrupt: it only had to end the wait
            };
            count += 1;
            let failed = event.is_error();
            let closed = [event.is_read_closed(), event.is_write_closed()].map(|c| c || failed);
            let ready = [event.is_readable(), event.is_writable()];
            for (half, (ready, closed)) in halves.iter_mut().zip(ready.into_iter().zip(closed)) {
                half.closed |= closed;
                if ready || closed {
                    half.blocked = false;
                    if let Some(waker) = half.waiter.take() {
                        waker.wake();
                    }
                }
            }
        }
        count
    }
}

/// A socket's place in the reactor, for its whole life. Dropping it frees the slot; closing the
/// socket itself removes it from the OS queue.
pub(crate) struct Registration {
    token: Token,
    reactor: Rc<RefCell<Reactor>>,
}

impl Registration {
    pub(crate) fn new(
        reactor: &Rc<RefCell<Reactor>>,
        source: &mut impl mio::event::Source,
    ) -> io::Result<Self> {
        let inner = &mut *reactor.borrow_mut();
        let slot = inner.sockets.vacant_entry();
        let (token, both) = (Token(slot.key()), Interest::READABLE | Interest::WRITABLE);
        inner.poll.registry().register(source, token, both)?;
        slot.insert(Default::default());
        let reactor = Rc::clone(reactor);
        Ok(Self { token, reactor })
    }

    /// Runs the non-blocking `operation` unless the OS said "nothing now" since the last edge;
    /// then, or on `WouldBlock`, leaves the task's waker for the next edge and returns `Pending`.
    pub(crate) fn poll_io<R>(
        &self,
        direction: usize,
        cx: &mut Context<'_>,
        mut operation: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let mut reactor = self.reactor.borrow_mut();
            let half = &mut reactor.sockets[self.token.0][direction];
            if half.blocked {
                half.waiter = Some(cx.waker().clone());
                return Poll::Pending;
            }
            drop(reactor); // the syscall needs no borrow
            match operation() {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.reactor.borrow_mut().sockets[self.token.0][direction].blocked = true;
                }
                // mutants: guard `false` is equivalent: a non-blocking call is never interrupted.
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// Notes that a syscall did less than asked: the OS has nothing more in `direction` until
    /// the next edge, so the syscall that would say `WouldBlock` can be spared. Not once closed:
    /// after end of stream no edge comes, and the next read must see it.
    // mutants: `()` is equivalent (one more syscall per short read).
    pub(crate) fn drained(&self, direction: usize) {
        let half = &mut self.reactor.borrow_mut().sockets[self.token.0][direction];
        half.blocked = !half.closed;
    }
}

// mutants: `drop` doing `()` is equivalent but for memory: the closed socket's slot stays.
impl Drop for Registration {
    fn drop(&mut self) {
        self.reactor.borrow_mut().sockets.remove(self.token.0);
    }
}
