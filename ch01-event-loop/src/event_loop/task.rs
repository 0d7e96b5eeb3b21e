//! Section 1.7, "an empty queue of tasks": what a task is, the table that holds the tasks
//! waiting for a wake-up, and the handle a spawner awaits (asyncio's `Task` object).
//!
//! A task is a future pinned in a box, plus the waker that puts it back on the ready queue. The
//! loop owns it; between polls it sits in a `TaskTable` slot, and its [`TaskId`] is that slot.

use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::FutureExt;

/// A task's name: its slot in the table (`--trace` prints `#3`). A finished task's slot is
/// reused, so a late wake-up meant for it may poll the next occupant once for nothing; every
/// future copes with that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskId(pub usize);

impl TaskId {
    /// The future given to `block_on`: polled like a task, but lives on the caller's stack.
    pub const MAIN: TaskId = TaskId(usize::MAX);
}

/// A spawned task: the boxed future and its waker (made once, reused for every poll).
pub(crate) struct Task {
    pub(crate) future: Pin<Box<dyn Future<Output = ()>>>,
    pub(crate) waker: Waker,
}

/// Wraps `future` as a task body that leaves its output, or its panic, in the join handle: a
/// panic ends this task only (asyncio stores a task's exception for whoever awaits it).
pub(crate) fn task_body<F: Future + 'static>(
    id: TaskId,
    future: F,
) -> (impl Future<Output = ()>, JoinHandle<F::Output>) {
    let state = Rc::new(RefCell::new(JoinState {
        result: None,
        waiter: None,
    }));
    let handle = JoinHandle {
        state: Rc::clone(&state),
    };
    let body = async move {
        let result = AssertUnwindSafe(future).catch_unwind().await;
        let result = result.map_err(|payload| {
            let error = JoinError::from_panic(id, payload.as_ref());
            let message = &error.message;
            tracing::warn!(target: "event_loop", task = id.0, %message, "task panicked");
            error
        });
        let mut state = state.borrow_mut();
        state.result = Some(result);
        if let Some(waiter) = state.waiter.take() {
            waiter.wake();
        }
    };
    (body, handle)
}

/// The tasks that exist, by id: a slab, a vector whose freed slots are reused, so spawning and
/// finding a task cost no hashing and no search. A task is taken out (`None`) while the loop
/// polls it, so that it can spawn others meanwhile.
pub(crate) type TaskTable = slab::Slab<Option<Task>>;

/// Why a [`JoinHandle`] gave no value: the task panicked (its text: `outside.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinError {
    /// The task that panicked.
    pub task: TaskId,
    /// Its panic message.
    pub message: String,
}

struct JoinState<T> {
    result: Option<Result<T, JoinError>>,
    waiter: Option<Waker>,
}

/// What `spawn` returns: a future of the task's output (or of the panic that ended it).
/// Dropping it does not cancel the task: the loop's table owns the task, not this handle.
pub struct JoinHandle<T> {
    state: Rc<RefCell<JoinState<T>>>,
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.state.borrow_mut();
        match state.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                // Not finished: the task's end wakes whoever polled us last.
                state.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
