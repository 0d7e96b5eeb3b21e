//! Section 1.7, beside the loop's mechanism: the text of a [`JoinError`](super::JoinError), what
//! awaiting a task that panicked gives (asyncio re-raises the task's exception in whoever awaits
//! it), and counts that let a test (or a curious reader) look inside a loop between runs (the
//! loop itself never asks).

use std::any::Any;
use std::fmt;

use super::executor::EventLoop;
use super::task::{JoinError, TaskId};

impl EventLoop {
    /// How many tasks wait in the ready queue for their next poll: none in a new loop, one more
    /// per `spawn` or wake-up, none once `block_on` has run them all.
    pub fn queued(&self) -> usize {
        self.running.ready.len()
    }

    /// How many spawned tasks have not finished yet.
    pub fn task_count(&self) -> usize {
        self.running.tasks.borrow().len()
    }
}

impl JoinError {
    /// The error of task `task`, whose panic carried `payload`.
    pub(crate) fn from_panic(task: TaskId, payload: &(dyn Any + Send)) -> Self {
        let text = payload.downcast_ref::<&str>().copied();
        let text = text.or(payload.downcast_ref::<String>().map(String::as_str));
        let message = text.unwrap_or("a panic with a non-text payload").into();
        JoinError { task, message }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task #{} panicked: {}", self.task.0, self.message)
    }
}

impl std::error::Error for JoinError {}
