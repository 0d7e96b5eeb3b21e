//! Section 1.7: the running loop as a task sees it. Like `asyncio.create_task` and
//! `asyncio.sleep`, each function here first finds the loop running on this thread (asyncio's
//! `get_running_loop()`), then asks it to queue a new task, to wake this one at a deadline, or
//! (for `net.rs`) to watch a socket. One thread runs everything, so tasks need not be `Send`: the
//! loop keeps its parts in `RefCell`s, lent to tasks through a thread-local while `block_on` runs.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::reactor::Reactor;
use super::task::{JoinHandle, Task, TaskId, TaskTable, task_body};
use super::timers::Timers;
use super::waker::{ReadyQueue, task_waker};

/// The parts of one loop that its tasks reach while they run.
pub(crate) struct Running {
    pub(crate) tasks: RefCell<TaskTable>,
    pub(crate) ready: Arc<ReadyQueue>,
    pub(crate) timers: RefCell<Timers>,
    /// Shared with every socket, which frees its slot when dropped.
    pub(crate) reactor: Rc<RefCell<Reactor>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Running>>> = const { RefCell::new(None) };
}

/// Runs `f` with the loop running on this thread. Panics outside `block_on`, as asyncio's
/// `get_running_loop()` raises when no loop runs.
pub(crate) fn with_running_loop<R>(f: impl FnOnce(&Rc<Running>) -> R) -> R {
    CURRENT.with_borrow(|current| {
        let running = current.as_ref();
        f(running.expect("no event loop is running on this thread: call this inside block_on"))
    })
}

/// Makes `running` this thread's loop until the guard is dropped (the end of `block_on`).
pub(crate) fn enter(running: &Rc<Running>) -> impl Drop {
    struct Restore(Option<Rc<Running>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.set(self.0.take());
        }
    }
    let previous = CURRENT.replace(Some(Rc::clone(running)));
    if previous.as_ref().is_some_and(|p| Rc::ptr_eq(p, running)) {
        panic!("block_on called inside the same event loop: await the future instead");
    }
    Restore(previous)
}

/// Adds a task to the running loop's ready queue (asyncio's `create_task`) and returns a handle
/// that resolves to its output. The task first runs at the loop's next turn, not during this call.
pub fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    with_running_loop(|running| {
        let mut tasks = running.tasks.borrow_mut();
        let id = TaskId(tasks.vacant_key());
        let (body, handle) = task_body(id, future);
        let (future, waker) = (Box::pin(body), task_waker(id, &running.ready));
        tasks.insert(Some(Task { future, waker }));
        running.ready.push(id);
        handle
    })
}

/// Completes after `duration`, never earlier (`asyncio.sleep`).
pub fn sleep(duration: Duration) -> impl Future<Output = ()> {
    sleep_until(Instant::now() + duration)
}

/// Completes at `deadline`, at once if it has passed (asyncio's `loop.call_at` underneath).
pub fn sleep_until(deadline: Instant) -> impl Future<Output = ()> {
    // The waker already with the timers, if any.
    let mut registered: Option<Waker> = None;
    poll_fn(move |cx| {
        // The clock decides, not the timers: a wake-up for any other reason finds it not yet due.
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        // First poll, or polled by a new waker (a combinator moved us): tell the timers.
        if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            let waker = cx.waker().clone();
            with_running_loop(|running| running.timers.borrow_mut().add(deadline, waker.clone()));
            registered = Some(waker);
        }
        Poll::Pending
    })
}

/// Lets the other ready tasks run first: the task re-queues itself and pauses once
/// (asyncio's `await asyncio.sleep(0)`).
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}
