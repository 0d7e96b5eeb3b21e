//! Section 1.7, the loop itself. Read [`EventLoop::block_on`] first: it is the whole loop, and
//! each sentence of the notes is a few lines of it.
//!
//! - "when we create an event loop, we create an empty queue of tasks": [`EventLoop::new`].
//! - "we can add tasks into the queue to run": [`spawn`](super::spawn).
//! - "each iteration checks for tasks that need to be run, runs them one at a time until a task
//!   hits an I/O operation": step 1 of `block_on`. A task "hits I/O" when its `poll` returns
//!   `Pending`, having left its waker with the reactor or the timers.
//! - "on the next iteration, check to see if the I/O has completed": step 2, [`EventLoop::wait`],
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

/// A single-threaded event loop: a queue of ready tasks, a reactor for sockets, a heap of timers.
pub struct EventLoop {
    running: Rc<Running>,
}

/// What one iteration did, for its `tracing` event.
#[derive(Default)]
struct Turn {
    woken: u64,
    polled: u64,
    ran: Duration,
    waited: Duration,
    io_events: u64,
    timers_fired: u64,
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

    /// How many spawned tasks have not finished yet.
    pub fn task_count(&self) -> usize {
        self.running.tasks.borrow().len()
    }

    /// Runs the loop until `future` completes, and returns its output (asyncio's
    /// `run_until_complete`). Spawned tasks still pending stay in the loop: a later `block_on`
    /// goes on with them.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _entered = context::enter(&self.running);
        let running = &*self.running;
        let mut main = pin!(future);
        let main_waker = task_waker(TaskId::MAIN, &running.ready);
        running.ready.push(TaskId::MAIN);
        let mut batch = VecDeque::new();
        for iteration in 1u64.. {
            let mut turn = Turn::default();
            let started = Instant::now();
            // 1. Run every task that is ready, one at a time, until it returns `Pending` (it
            //    waits for I/O, a timer or another task) or finishes.
            running.ready.take_all(&mut batch);
            turn.woken = batch.len() as u64;
            while let Some(id) = batch.pop_front() {
                if id != TaskId::MAIN {
                    turn.polled += u64::from(self.run_task(id));
                    continue;
                }
                turn.polled += 1;
                tracing::trace!(target: "event_loop", task = id.0, "poll");
                if let Poll::Ready(output) =
                    main.as_mut().poll(&mut Context::from_waker(&main_waker))
                {
                    // Tasks woken but not yet run keep their turn for the next `block_on`.
                    batch.drain(..).for_each(|id| running.ready.push(id));
                    turn.ran = started.elapsed();
                    turn.emit(iteration);
                    return output;
                }
            }
            turn.ran = started.elapsed();
            // 2. Wait for I/O or the next timer, and wake the tasks that can go on.
            self.wait(&mut turn);
            turn.emit(iteration);
        }
        unreachable!("an event loop runs more than 2^64 iterations only in theory")
    }

    /// Polls one task once. Pending: back to the table until its waker says otherwise.
    /// Finished: removed. A wake-up for a task that no longer exists is ignored (`false`).
    fn run_task(&self, id: TaskId) -> bool {
        let Some(mut task) = self.running.tasks.borrow_mut().take(id) else {
            return false;
        };
        tracing::trace!(target: "event_loop", task = id.0, "poll");
        // The task body catches its own panics (see `task_body`), so this never unwinds.
        match task
            .future
            .as_mut()
            .poll(&mut Context::from_waker(&task.waker))
        {
            Poll::Pending => self.running.tasks.borrow_mut().put_back(id, task),
            // Dropped outside the table's borrow: dropping may close sockets or wake others.
            Poll::Ready(()) => self.running.tasks.borrow_mut().remove(id),
        }
        true
    }

    /// Blocks in the OS until a socket is ready, another thread wakes a task, or the next timer
    /// is due (`selectors`' `select(timeout)`); then wakes the tasks that can go on.
    fn wait(&self, turn: &mut Turn) {
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
        turn.waited = started.elapsed();
        if let Err(error) = result {
            panic!("the OS readiness queue (epoll/kqueue) failed: {error}");
        }
        turn.io_events = running.reactor.borrow_mut().wake_ready();
        let now = Instant::now();
        while let Some(waker) = running.timers.borrow_mut().pop_due(now) {
            turn.timers_fired += 1;
            waker.wake();
        }
    }
}

impl Turn {
    /// The iteration's event; it costs one check of a cached flag when nobody listens.
    fn emit(&self, iteration: u64) {
        tracing::debug!(
            target: "event_loop",
            iteration,
            woken = self.woken,
            polled = self.polled,
            ran_us = self.ran.as_micros() as u64,
            waited_us = self.waited.as_micros() as u64,
            io_events = self.io_events,
            timers_fired = self.timers_fired,
            "iteration"
        );
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // Unfinished tasks are dropped (closing their sockets) while the loop is current, and
        // outside any borrow of the table.
        let _entered = context::enter(&self.running);
        let leftovers = self.running.tasks.borrow_mut().drain();
        drop(leftovers);
    }
}

/// Runs `future` to completion on a new loop, then drops the loop (`asyncio.run`).
pub fn block_on<F: Future>(future: F) -> F::Output {
    EventLoop::new()
        .expect("could not create the OS readiness queue (epoll/kqueue)")
        .block_on(future)
}
