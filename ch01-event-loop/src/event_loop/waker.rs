//! Section 1.7, "on the next iteration, check whether the I/O has completed": how a paused task
//! gets back into the queue of tasks to run (asyncio's `loop._ready`).
//!
//! A task that returns `Pending` has left its waker with whatever it waits for: a socket, a
//! timer, another task, a channel. Waking it pushes its id on the [`ReadyQueue`]; the loop takes
//! the whole queue at the start of each iteration. Rust lets any thread call a waker (a channel's
//! sender may live elsewhere), so the queue sits behind a mutex, and a wake-up while the loop
//! sleeps in `epoll_wait` also pokes a `mio::Waker`, which ends that sleep.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Wake, Waker};

use super::task::TaskId;

/// The ids of the tasks to run, in the order they were woken. A task woken twice is polled
/// twice, like a callback scheduled twice in asyncio.
pub(crate) struct ReadyQueue {
    ids: Mutex<VecDeque<TaskId>>,
    /// True while the loop blocks in the OS: only then does a wake-up need the `interrupt`.
    sleeping: AtomicBool,
    interrupt: mio::Waker,
}

impl ReadyQueue {
    pub(crate) fn new(interrupt: mio::Waker) -> Self {
        Self {
            ids: Mutex::new(VecDeque::new()),
            sleeping: AtomicBool::new(false),
            interrupt,
        }
    }

    /// Only push, swap and `is_empty` run under the lock: it is never poisoned.
    fn ids(&self) -> MutexGuard<'_, VecDeque<TaskId>> {
        self.ids.lock().expect("the ready queue's lock")
    }

    pub(crate) fn push(&self, id: TaskId) {
        self.ids().push_back(id);
        if self.sleeping.load(SeqCst) {
            // If this fails the task runs after the next event or timer instead: nothing to undo.
            let _ = self.interrupt.wake();
        }
    }

    /// How many ids wait to be run.
    pub(crate) fn len(&self) -> usize {
        self.ids().len()
    }

    /// Moves every queued id into the empty `batch`: this iteration's tasks. Swapping keeps both
    /// buffers' memory, so a busy loop does not allocate per iteration.
    pub(crate) fn take_all(&self, batch: &mut VecDeque<TaskId>) {
        std::mem::swap(&mut *self.ids(), batch);
    }

    /// Says the loop is about to sleep, and whether it still may: a wake-up before this call
    /// left an id in the queue, one after it sees the flag and pokes the `interrupt`.
    pub(crate) fn start_sleeping(&self) -> bool {
        self.sleeping.store(true, SeqCst);
        self.ids().is_empty()
    }

    // mutants: `()` is equivalent but slower: every wake-up would poke the `interrupt`.
    pub(crate) fn stop_sleeping(&self) {
        self.sleeping.store(false, SeqCst);
    }
}

/// One task's waker: waking it queues the task's id.
struct TaskWaker {
    id: TaskId,
    queue: Arc<ReadyQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.queue.push(self.id);
    }
}

/// The waker of task `id` (made once per task, at spawn).
pub(crate) fn task_waker(id: TaskId, queue: &Arc<ReadyQueue>) -> Waker {
    let queue = Arc::clone(queue);
    Waker::from(Arc::new(TaskWaker { id, queue }))
}
