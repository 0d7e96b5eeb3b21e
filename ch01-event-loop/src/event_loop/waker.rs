//! Section 1.7, "on the next iteration, check whether the I/O has completed": how a paused task
//! gets back into the queue of tasks to run.
//!
//! A task that returns `Pending` has left its [`Waker`](std::task::Waker) with whatever it waits
//! for (a socket, a timer, another task, a channel). Waking it pushes its id onto the
//! [`WakeQueue`]; the loop takes the whole queue at the start of each iteration and polls those
//! tasks in order. Rust requires wakers to be `Send + Sync` (a channel's sender may live on another
//! thread), so the queue sits behind a mutex, and a wake from another thread while the loop sleeps
//! in `epoll_wait` also pokes a `mio::Waker` to end that sleep.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Wake;

use super::task::TaskId;

/// The ids of tasks ready to run, in the order they were woken. One entry per wake: a task woken
/// twice before it runs is polled twice (the second poll finds nothing new and returns `Pending`
/// again), like a callback scheduled twice in asyncio.
pub(crate) struct WakeQueue {
    ready: Mutex<VecDeque<TaskId>>,
    /// True while the loop blocks in `Poll::poll`: only then does a wake need the syscall.
    sleeping: AtomicBool,
    interrupt: mio::Waker,
}

impl WakeQueue {
    pub(crate) fn new(interrupt: mio::Waker) -> Self {
        Self {
            ready: Mutex::new(VecDeque::new()),
            sleeping: AtomicBool::new(false),
            interrupt,
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<TaskId>> {
        // A panic never happens while the lock is held (push and swap only), but if one did the
        // queue itself is still consistent.
        self.ready
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts a task at the back of the queue, and interrupts the loop's sleep if it is sleeping.
    pub(crate) fn push(&self, id: TaskId) {
        self.lock().push_back(id);
        if self.sleeping.load(Ordering::SeqCst) {
            // Failing to wake only delays the task to the next event or timer; nothing to undo.
            let _ = self.interrupt.wake();
        }
    }

    /// Moves every queued id into `batch` (which must be empty): the tasks of this iteration.
    /// Swapping keeps both buffers' memory, so a busy loop does not allocate per iteration.
    pub(crate) fn take_all(&self, batch: &mut VecDeque<TaskId>) {
        debug_assert!(batch.is_empty());
        std::mem::swap(&mut *self.lock(), batch);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Announces that the loop is about to sleep, and says whether it still may: a wake that
    /// slipped in before the announcement is seen here, one after it pokes the `mio::Waker`.
    pub(crate) fn start_sleeping(&self) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        self.is_empty()
    }

    pub(crate) fn stop_sleeping(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

/// The waker of one task: waking it queues the task's id. Made once per task, at spawn.
pub(crate) struct TaskWaker {
    pub(crate) id: TaskId,
    pub(crate) queue: Arc<WakeQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.queue.push(self.id);
    }
}
