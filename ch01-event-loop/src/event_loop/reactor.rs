//! Section 1.7 (with 1.6 underneath): the reactor asks the OS which sockets are ready, so that
//! no task ever blocks on one (Python's `selectors`, which asyncio's loop calls every iteration).
//!
//! Each socket is registered once with mio's `Poll` (epoll on Linux, kqueue on macOS), for reading
//! and writing, under a token: its slot in `waiters`. mio is *edge-triggered*: the OS reports a
//! socket when it becomes ready, not again while it stays ready. So an operation always tries the
//! non-blocking syscall first, and only on `WouldBlock` leaves its waker for the next edge.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::{Events, Interest, Token};

/// The token of the `mio::Waker` with which other threads end the loop's sleep.
pub(crate) const INTERRUPT: Token = Token(usize::MAX);

/// Which half of a socket an operation needs: an index into a socket's two waiters.
pub(crate) const READ: usize = 0;
pub(crate) const WRITE: usize = 1;

/// The OS readiness queue and, per registered socket, who waits to read and who waits to write.
pub(crate) struct Reactor {
    poll: mio::Poll,
    events: Events,
    waiters: Vec<[Option<Waker>; 2]>,
    free: Vec<usize>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<(Self, mio::Waker)> {
        let poll = mio::Poll::new()?;
        let interrupt = mio::Waker::new(poll.registry(), INTERRUPT)?;
        let (events, waiters, free) = (Events::with_capacity(1024), Vec::new(), Vec::new());
        let reactor = Self {
            poll,
            events,
            waiters,
            free,
        };
        Ok((reactor, interrupt))
    }

    /// Blocks in the OS until a socket is ready, a thread pokes the interrupt, or `timeout`
    /// passes (`None`: no timer is pending, wait for I/O alone).
    pub(crate) fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.poll.poll(&mut self.events, timeout)
    }

    /// Wakes the tasks waiting on the sockets of the last [`wait`](Self::wait); returns how many
    /// socket events there were. Errors and hang-ups wake both sides: the syscall reports them.
    pub(crate) fn wake_ready(&mut self) -> u64 {
        let mut count = 0;
        for event in &self.events {
            let Some(waiters) = self.waiters.get_mut(event.token().0) else {
                continue; // the interrupt: it only had to end the wait
            };
            count += 1;
            let failed = event.is_error();
            let readable = event.is_readable() || event.is_read_closed() || failed;
            let writable = event.is_writable() || event.is_write_closed() || failed;
            for (waiter, ready) in waiters.iter_mut().zip([readable, writable]) {
                if let Some(waker) = waiter.take_if(|_| ready) {
                    waker.wake();
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
        let mut inner = reactor.borrow_mut();
        let index = inner.free.last().copied().unwrap_or(inner.waiters.len());
        let both = Interest::READABLE | Interest::WRITABLE;
        inner.poll.registry().register(source, Token(index), both)?;
        if index == inner.waiters.len() {
            inner.waiters.push([None, None]);
        } else {
            inner.free.pop();
        }
        let (token, reactor) = (Token(index), Rc::clone(reactor));
        Ok(Self { token, reactor })
    }

    /// Runs the non-blocking `operation`; on `WouldBlock`, leaves the task's waker for the
    /// socket's next readiness edge and returns `Pending`.
    pub(crate) fn poll_io<R>(
        &self,
        direction: usize,
        cx: &mut Context<'_>,
        mut operation: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            match operation() {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    let mut reactor = self.reactor.borrow_mut();
                    let waiter = &mut reactor.waiters[self.token.0][direction];
                    if !waiter.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *waiter = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut reactor = self.reactor.borrow_mut();
        reactor.waiters[self.token.0] = [None, None];
        reactor.free.push(self.token.0);
    }
}
