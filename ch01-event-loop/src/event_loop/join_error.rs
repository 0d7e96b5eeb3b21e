//! Section 1.7: the text of a [`JoinError`](super::JoinError), what awaiting a task that panicked gives (asyncio
//! re-raises the task's exception in whoever awaits it). Kept apart from `task.rs`: it is the
//! error's wording, not the loop's mechanism.

use std::any::Any;
use std::fmt;

use super::task::{JoinError, TaskId};

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
