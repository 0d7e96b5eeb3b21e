//! Section 1.7, the loop itself. Read [`EventLoop::block_on`] first: it is the whole loop, and
//! each sentence of the notes is a few lines of it.
//!
//! - "when we create an event loop, we create an empty queue of tasks": [`EventLoop::new`].
//! - "we can add tasks into the queue to run": [`spawn`](super::spawn).
//! - "each iteration checks for tasks that need to be run, runs them one at a time until a task
//!   hits an I/O operation": step 1 of `block_on`. A task "hits I/O" when its `poll` returns
//!   `Pending`, having left its waker with the reactor or the timers.
//! - "on the next iteration, check to see if the I/O has completed": step 2, `wait_and_wake`,
//!   asks the OS which sockets became ready (or sleeps until the next timer) and puts the tasks
//!   waiting on them back on the ready queue.
//!
//! Each iteration ends with a `tracing` event (target `event_loop`) saying what it did; the
//! `--trace` printer and the counters are subscribers to it, outside the loop.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::context::{self, Running};
use super::reactor::Reactor;
use super::task::{TaskId, TaskTable};
use super::timers::Timers;
use super::waker::{ReadyQueue, task_waker};

/// A single-threaded event loop: a queue of ready tasks, a reactor for sockets, timers. Dropping
/// it drops the tasks that never finished, closing their sockets.
pub struct EventLoop {
    pub(super) running: Rc<Running>,
}

impl EventLoop {
    /// A new loop with an empty queue of tasks.
    pub fn new() -> io::Result<Self> {
        let (reactor, interrupt) = Reactor::new()?;
        let running = Rc::new(Running {
            tasks: RefCell::new(TaskTable::default()),
            ready: Arc::new(ReadyQueue::new(interrupt)),
            timers: RefCell::new(Timers::default()),
            reactor: Rc::new(RefCell::new(reactor)),
        });
        Ok(Self { running })
    }

    /// Runs the loop until `future` completes, and returns its output (asyncio's
    /// `run_until_complete`). Spawned tasks still pending stay in the loop: a later `block_on`
    /// goes on with them.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _entered = context::enter(&self.running);
        let ready = &self.running.ready;
        let mut main = pin!(future);
        let main_waker = task_waker(TaskId::MAIN, ready);
        ready.push(TaskId::MAIN);
        let mut batch = VecDeque::new();
        for iteration in 1u64.. {
            let started = Instant::now();
            // 1. Run every task that is ready, one at a time, until it returns `Pending` (it
            //    waits for I/O, a timer or another task) or finishes.
            ready.take_all(&mut batch);
            let (woken, mut polled, mut output) = (batch.len(), 0, None);
            while let Some(id) = batch.pop_front() {
                if id != TaskId::MAIN {
                    polled += usize::from(self.run_task(id));
                    continue;
                }
                polled += 1;
                tracing::trace!(target: "event_loop", task = id.0, "poll");
                if let Poll::Ready(out) = main.as_mut().poll(&mut Context::from_waker(&main_waker))
                {
                    // The tasks not run yet keep their wake-up for the next `block_on`.
                    let tasks = batch.drain(..).filter(|&id| id != TaskId::MAIN);
                    tasks.for_each(|id| ready.push(id));
                    output = Some(out);
                }
            }
            let ran = started.elapsed();
            // 2. Wait for I/O or the next timer, and wake the tasks that can go on.
            let (waited, io_events, timers_fired) = match output {
                None => self.wait_and_wake(),
                Some(_) => (Duration::ZERO, 0, 0),
            };
            // Free when nobody listens: `tracing` caches "not interested" per call site.
            tracing::debug!(
                target: "event_loop",
                iteration,
                woken,
                polled,
                ran_us = ran.as_micros() as u64,
                waited_us = waited.as_micros() as u64,
                io_events,
                timers_fired,
                "iteration"
            );
            if let Some(output) = output {
                return output;
            }
        }
        unreachable!("2^64 iterations")
    }

    /// Polls one task once. Pending: back to the table until its waker says otherwise.
    /// Finished: removed. A wake-up for a task that no longer exists is ignored (`false`).
    fn run_task(&self, id: TaskId) -> bool {
        let tasks = &self.running.tasks;
        let Some(mut task) = tasks.borrow_mut().get_mut(id.0).and_then(Option::take) else {
            return false;
        };
        tracing::trace!(target: "event_loop", task = id.0, "poll");
        // The task body catches its own panics (see `task_body`): this never unwinds.
        let waker = &task.waker;
        match task.future.as_mut().poll(&mut Context::from_waker(waker)) {
            Poll::Pending => tasks.borrow_mut()[id.0] = Some(task),
            // `task` is dropped after the table's borrow ends: dropping may close sockets.
            Poll::Ready(()) => drop(tasks.borrow_mut().remove(id.0)),
        }
        true
    }

    /// Blocks in the OS until a socket is ready, another thread wakes a task, or the next timer
    /// is due (`selector.select(timeout)`); then wakes the tasks that can go on.
    /// Returns the time waited, the socket events, and the timers fired.
    fn wait_and_wake(&self) -> (Duration, u64, u64) {
        let running = &*self.running;
        let mut timeout = running.timers.borrow().time_to_next(Instant::now());
        // Tasks woken while the others ran must not wait: only collect what the OS has ready.
        if !running.ready.start_sleeping() {
            timeout = Some(Duration::ZERO);
        }
        let started = Instant::now();
        let result = running.reactor.borrow_mut().wait(timeout);
        // Awake before waking anyone: from here on a wake-up needs no interrupt.
        running.ready.stop_sleeping();
        let waited = started.elapsed();
        // mutants: guard `false` is equivalent: waiting on our own epoll fails only with EINTR.
        match result {
            Err(error) if error.kind() != io::ErrorKind::Interrupted => {
                panic!("the OS readiness queue (epoll/kqueue) failed: {error}")
            }
            _ => {} // done, or a signal cut the wait short (with no events)
        }
        let io_events = running.reactor.borrow_mut().wake_ready();
        let (now, mut fired) = (Instant::now(), 0);
        while let Some(waker) = running.timers.borrow_mut().pop_due(now) {
            fired += 1;
            waker.wake();
        }
        (waited, io_events, fired)
    }
}

/// Runs `future` to completion on a new loop, then drops the loop (`asyncio.run`).
pub fn block_on<F: Future>(future: F) -> F::Output {
    EventLoop::new()
        .expect("could not create the OS readiness queue (epoll/kqueue)")
        .block_on(future)
}
