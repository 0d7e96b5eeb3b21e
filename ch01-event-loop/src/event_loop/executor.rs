//! Section 1.7, the loop itself. Read [`EventLoop::block_on`] first: it is the whole loop, and
//! every sentence of the notes is a line of it.
//!
//! - "when we create an event loop, we create an empty queue of tasks": [`EventLoop::new`].
//! - "we can add tasks into the queue to run": [`spawn`].
//! - "each iteration checks for tasks that need to be run, runs them one at a time until a task
//!   hits an I/O operation": [`Core::run_ready_tasks`]; a task "hits I/O" when its `poll` returns
//!   `Pending`, having left its waker with the reactor or a timer.
//! - "on the next iteration, check to see if the I/O has completed": [`Core::wait_and_wake`] asks
//!   the OS which sockets became ready (or sleeps until the next timer) and puts the tasks waiting
//!   on them back into the queue.
//!
//! One thread runs everything, so tasks need not be `Send` and the loop keeps its state in
//! `RefCell`s, reached by tasks through a thread-local while `block_on` runs.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::reactor::{Reactor, ReactorHandle};
use super::stats::Stats;
use super::task::{Completion, JoinError, JoinHandle, JoinSlot, Task, TaskId, TaskSlab};
use super::timers::{Timers, until};
use super::trace::{Iteration, Tracer};
use super::waker::{TaskWaker, WakeQueue};

/// Everything one loop owns. Tasks reach it through [`with_core`].
pub(crate) struct Core {
    pub(crate) tasks: RefCell<TaskSlab>,
    pub(crate) queue: Arc<WakeQueue>,
    pub(crate) reactor: ReactorHandle,
    pub(crate) timers: RefCell<Timers>,
    stats: Cell<Stats>,
    tracer: RefCell<Tracer>,
}

thread_local! {
    /// The loop running on this thread (inside `block_on`), if any.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Runs `f` with the loop running on this thread. Panics outside `block_on`, like using an
/// asyncio API with no running loop.
pub(crate) fn with_core<R>(f: impl FnOnce(&Rc<Core>) -> R) -> R {
    CURRENT.with(|current| {
        let current = current.borrow();
        let core = current.as_ref().expect(
            "no event loop is running on this thread: call this inside EventLoop::block_on",
        );
        f(core)
    })
}

/// A single-threaded event loop: a queue of ready tasks, a reactor for sockets, a heap of timers.
///
/// ```
/// use std::time::Duration;
/// use ch01_event_loop::event_loop::{EventLoop, sleep, spawn};
/// let event_loop = EventLoop::new().unwrap();
/// let sum = event_loop.block_on(async {
///     let a = spawn(async { sleep(Duration::from_millis(10)).await; 1 });
///     let b = spawn(async { sleep(Duration::from_millis(10)).await; 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(sum, 3);
/// assert_eq!(event_loop.stats().timers_fired, 2);
/// ```
pub struct EventLoop {
    core: Rc<Core>,
}

impl EventLoop {
    /// A new loop with an empty queue of tasks.
    pub fn new() -> io::Result<Self> {
        let (reactor, interrupt) = Reactor::new()?;
        Ok(Self {
            core: Rc::new(Core {
                tasks: RefCell::new(TaskSlab::default()),
                queue: Arc::new(WakeQueue::new(interrupt)),
                reactor: Rc::new(RefCell::new(reactor)),
                timers: RefCell::new(Timers::default()),
                stats: Cell::new(Stats::default()),
                tracer: RefCell::new(Tracer::default()),
            }),
        })
    }

    /// Prints one line per iteration to standard error (`--trace`).
    pub fn print_trace(self, on: bool) -> Self {
        self.core.tracer.borrow_mut().print = on;
        self
    }

    /// Keeps every iteration's record for [`iterations`](Self::iterations).
    pub fn keep_trace(self, on: bool) -> Self {
        self.core.tracer.borrow_mut().keep = on;
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.core.stats.get()
    }

    /// How many spawned tasks exist (not finished, not removed after a panic).
    pub fn task_count(&self) -> usize {
        self.core.tasks.borrow().len()
    }

    /// The iterations recorded with [`keep_trace`](Self::keep_trace).
    pub fn iterations(&self) -> Vec<Iteration> {
        self.core.tracer.borrow().kept.clone()
    }

    /// Runs the loop until `future` completes, and returns its output. Spawned tasks that are
    /// still pending stay in the loop (a later `block_on` continues them) until it is dropped.
    ///
    /// This is the whole event loop.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _running = Running::enter(&self.core);
        let core = &*self.core;
        let mut main = pin!(future);
        let main_waker = Waker::from(Arc::new(TaskWaker {
            id: TaskId::MAIN,
            queue: Arc::clone(&core.queue),
        }));
        // The main future is the first ready task.
        core.queue.push(TaskId::MAIN);
        let mut ready = VecDeque::new();
        loop {
            let mut iteration = core.start_iteration();
            // 1. Run every task that is ready, one at a time, until each returns Pending
            //    (it hit I/O, a timer, or something else it must wait for) or finishes.
            let started = Instant::now();
            core.queue.take_all(&mut ready);
            while let Some(id) = ready.pop_front() {
                if id == TaskId::MAIN {
                    iteration.note_poll(id);
                    core.count(|stats| stats.polls += 1);
                    let mut cx = Context::from_waker(&main_waker);
                    if let Poll::Ready(output) = main.as_mut().poll(&mut cx) {
                        iteration.ran = started.elapsed();
                        core.finish_iteration(iteration);
                        return output;
                    }
                } else {
                    core.run_task(id, &mut iteration);
                }
            }
            iteration.ran = started.elapsed();
            // 2. Wait for I/O or the next timer, and wake the tasks that can go on.
            core.wait_and_wake(&mut iteration);
            core.finish_iteration(iteration);
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // Tasks that never finished are dropped (closing their sockets) while the loop is
        // current, outside any borrow of the task table.
        let _running = Running::enter(&self.core);
        let leftovers = self.core.tasks.borrow_mut().drain();
        drop(leftovers);
    }
}

/// Makes a loop current on this thread for the duration of `block_on`.
struct Running {
    previous: Option<Rc<Core>>,
}

impl Running {
    fn enter(core: &Rc<Core>) -> Self {
        let previous = CURRENT.with(|current| current.replace(Some(Rc::clone(core))));
        if let Some(previous) = &previous {
            assert!(
                !Rc::ptr_eq(previous, core),
                "block_on called from inside the same event loop: await the future instead"
            );
        }
        Self { previous }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl Core {
    fn count(&self, update: impl FnOnce(&mut Stats)) {
        let mut stats = self.stats.get();
        update(&mut stats);
        self.stats.set(stats);
    }

    fn start_iteration(&self) -> Iteration {
        self.count(|stats| stats.iterations += 1);
        Iteration {
            number: self.stats.get().iterations,
            keep_ids: self.tracer.borrow().active(),
            ..Iteration::default()
        }
    }

    fn finish_iteration(&self, iteration: Iteration) {
        let mut tracer = self.tracer.borrow_mut();
        if tracer.active() {
            tracer.record(iteration);
        }
    }

    /// Adds a task to the table and to the back of the ready queue.
    fn spawn_task(
        &self,
        future: std::pin::Pin<Box<dyn Future<Output = ()>>>,
        completion: Rc<dyn Completion>,
    ) -> TaskId {
        let id = self.tasks.borrow_mut().reserve();
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            queue: Arc::clone(&self.queue),
        }));
        self.tasks.borrow_mut().park(
            id,
            Task {
                future,
                waker,
                completion,
            },
        );
        self.count(|stats| stats.spawned += 1);
        self.queue.push(id);
        id
    }

    /// Polls one task once. Pending: back to the table to wait for its waker. Finished or
    /// panicked: removed. A wake for a task that no longer exists is ignored.
    fn run_task(&self, id: TaskId, iteration: &mut Iteration) {
        self.count(|stats| stats.wakeups += 1);
        let Some(mut task) = self.tasks.borrow_mut().take(id) else {
            self.count(|stats| stats.stale_wakeups += 1);
            return;
        };
        iteration.note_poll(id);
        self.count(|stats| stats.polls += 1);
        let mut cx = Context::from_waker(&task.waker);
        // A panic inside one task must not take the loop (and every other task) down with it.
        match catch_unwind(AssertUnwindSafe(|| task.future.as_mut().poll(&mut cx))) {
            Ok(Poll::Pending) => self.tasks.borrow_mut().park(id, task),
            Ok(Poll::Ready(())) => {
                self.tasks.borrow_mut().finish(id);
                self.count(|stats| stats.completed += 1);
                drop(task);
            }
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                eprintln!("[loop] task {id} panicked ({message}): removed; the other tasks go on");
                self.tasks.borrow_mut().finish(id);
                self.count(|stats| stats.panicked += 1);
                task.completion.panicked(JoinError { task: id, message });
                drop(task);
            }
        }
    }

    /// Blocks in the OS until a socket is ready, another thread wakes a task, or the next timer is
    /// due; then wakes the tasks whose sockets or timers are ready.
    fn wait_and_wake(&self, iteration: &mut Iteration) {
        let now = Instant::now();
        // Tasks already queued (woken while we ran) must not wait: just collect events.
        // Sleep until the earliest deadline; with no timer, until a socket or another thread
        // wakes us.
        let mut timeout = self
            .timers
            .borrow()
            .next_deadline()
            .map(|deadline| until(deadline, now));
        // Tasks woken while we ran must not wait: just collect what the OS has ready.
        if !self.queue.start_sleeping() {
            timeout = Some(Duration::ZERO);
        }
        let waited = Instant::now();
        let polled = self.reactor.borrow_mut().wait(timeout);
        // Awake again before waking anyone: a wake now needs no interrupt (no eventfd write,
        // and no extra empty iteration to read it back).
        self.queue.stop_sleeping();
        iteration.waited = waited.elapsed();
        if let Err(error) = polled {
            // epoll_wait failing is not recoverable for a loop that needs it.
            panic!("the OS readiness queue failed: {error}");
        }
        let count = self.reactor.borrow_mut().wake_ready();
        iteration.io_events = count;
        self.count(|stats| stats.io_events += count);
        let mut due = Vec::new();
        self.timers.borrow_mut().take_due(Instant::now(), &mut due);
        let fired = due.len() as u64;
        iteration.timers_fired = fired;
        self.count(|stats| stats.timers_fired += fired);
        for waker in due {
            waker.wake();
        }
    }
}

/// Adds a task to the running loop's queue and returns a handle that resolves to its output.
/// The task starts at the loop's next iteration, not during this call.
///
/// ```
/// use ch01_event_loop::event_loop::{block_on, spawn};
/// let handles = block_on(async {
///     let handles: Vec<_> = (0..3).map(|i| spawn(async move { i * 10 })).collect();
///     futures::future::join_all(handles).await
/// });
/// assert_eq!(handles.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 10, 20]);
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let slot = Rc::new(JoinSlot::new());
    let result = Rc::clone(&slot);
    let task = async move {
        let output = future.await;
        result.complete(Ok(output));
    };
    let id = with_core(|core| core.spawn_task(Box::pin(task), slot.clone()));
    JoinHandle { slot, id }
}

/// Runs `future` to completion on a new loop (the loop is dropped afterwards).
///
/// ```
/// assert_eq!(ch01_event_loop::event_loop::block_on(async { 1 + 1 }), 2);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    EventLoop::new()
        .expect("could not create the OS readiness queue (epoll/kqueue)")
        .block_on(future)
}

/// Gives the other ready tasks a turn: the task re-queues itself and returns `Pending` once, so it
/// continues in the next iteration (asyncio's `await asyncio.sleep(0)`).
///
/// ```
/// ch01_event_loop::event_loop::block_on(ch01_event_loop::event_loop::yield_now());
/// ```
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}
