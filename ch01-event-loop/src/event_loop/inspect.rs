//! Section 1.7: counts that let a test (or a curious reader) look inside a loop between runs.
//! Not part of the mechanism: the loop itself never asks.

use super::executor::EventLoop;

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
