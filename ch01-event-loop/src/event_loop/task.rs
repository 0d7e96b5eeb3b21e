//! Section 1.7, "an empty queue of tasks": what a task is, where the loop keeps the tasks that are
//! waiting, and the join handle a spawner awaits to get a task's result.
//!
//! A task is a future that has been pinned in a box: the loop owns it and polls it whenever its
//! waker says it can make progress. Between polls it sits in a [`TaskSlab`], a table indexed by a
//! [`TaskId`]. Ids carry a generation so that a wake arriving after a task finished (and its slot
//! was reused) can never poll the wrong task: the loop sees a stale id and ignores it.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A task's identity: its slot in the table and which occupant of that slot it is.
///
/// ```
/// use ch01_event_loop::event_loop::TaskId;
/// assert_eq!(TaskId::MAIN.to_string(), "main");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId {
    index: u32,
    generation: u32,
}

impl TaskId {
    /// The future passed to `block_on`: it is polled by the loop like a task but lives on the
    /// caller's stack, not in the table.
    pub const MAIN: TaskId = TaskId {
        index: u32::MAX,
        generation: 0,
    };
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (*self == Self::MAIN, self.generation) {
            (true, _) => write!(f, "main"),
            (false, 0) => write!(f, "#{}", self.index),
            // A reused slot: show which occupant it is, so traces never confuse two tasks.
            (false, generation) => write!(f, "#{}.{generation}", self.index),
        }
    }
}

/// A spawned task: the boxed future, the waker that re-queues it (made once, reused for every
/// poll), and whom to tell if it panics.
pub(crate) struct Task {
    pub(crate) future: Pin<Box<dyn Future<Output = ()>>>,
    pub(crate) waker: Waker,
    pub(crate) completion: Rc<dyn Completion>,
}

/// Someone waiting for a task's end who must hear about a panic (the loop only knows the task
/// as `dyn Future<Output = ()>`, so it reaches the typed join slot through this trait).
pub(crate) trait Completion {
    fn panicked(&self, error: JoinError);
}

enum Slot {
    Free {
        generation: u32,
    },
    /// Waiting in the table until a wake-up brings it to the ready queue.
    Parked {
        generation: u32,
        task: Task,
    },
    /// Taken out while the loop polls it (so it can spawn other tasks meanwhile).
    Running {
        generation: u32,
    },
}

impl Slot {
    fn generation(&self) -> u32 {
        match self {
            Slot::Free { generation }
            | Slot::Parked { generation, .. }
            | Slot::Running { generation } => *generation,
        }
    }
}

/// The table of tasks that exist: a vector of slots plus a list of free ones, so spawning and
/// finding a task cost no hashing and no search.
#[derive(Default)]
pub(crate) struct TaskSlab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

impl TaskSlab {
    /// Reserves a slot for a task about to be made (its waker needs the id first).
    pub(crate) fn reserve(&mut self) -> TaskId {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let generation = self.slots[index as usize].generation();
            self.slots[index as usize] = Slot::Running { generation };
            return TaskId { index, generation };
        }
        let index = u32::try_from(self.slots.len()).expect("more than 4 billion tasks");
        assert!(index != u32::MAX, "more than 4 billion tasks");
        self.slots.push(Slot::Running { generation: 0 });
        TaskId {
            index,
            generation: 0,
        }
    }

    /// Parks a task in its slot (after spawning, or after a poll that returned `Pending`).
    pub(crate) fn park(&mut self, id: TaskId, task: Task) {
        self.slots[id.index as usize] = Slot::Parked {
            generation: id.generation,
            task,
        };
    }

    /// Takes a parked task out to poll it; `None` for a stale id (the task already finished).
    pub(crate) fn take(&mut self, id: TaskId) -> Option<Task> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation() != id.generation || !matches!(slot, Slot::Parked { .. }) {
            return None;
        }
        match std::mem::replace(
            slot,
            Slot::Running {
                generation: id.generation,
            },
        ) {
            Slot::Parked { task, .. } => Some(task),
            _ => unreachable!("checked above that the slot is parked"),
        }
    }

    /// Frees the slot of a finished task; the next occupant gets a new generation.
    pub(crate) fn finish(&mut self, id: TaskId) {
        self.slots[id.index as usize] = Slot::Free {
            generation: id.generation.wrapping_add(1),
        };
        self.free.push(id.index);
        self.live -= 1;
    }

    /// How many tasks exist (parked or running).
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Removes every parked task (the loop is going away); the caller drops them outside any borrow.
    pub(crate) fn drain(&mut self) -> Vec<Task> {
        let mut tasks = Vec::new();
        for slot in &mut self.slots {
            if let Slot::Parked { generation, .. } = slot {
                let generation = *generation;
                if let Slot::Parked { task, .. } =
                    std::mem::replace(slot, Slot::Free { generation })
                {
                    tasks.push(task);
                }
            }
        }
        self.live -= tasks.len();
        tasks
    }
}

/// Why awaiting a [`JoinHandle`] gave no value: the task panicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinError {
    /// The task that panicked.
    pub task: TaskId,
    /// Its panic message.
    pub message: String,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {} panicked: {}", self.task, self.message)
    }
}

impl std::error::Error for JoinError {}

/// Where a task leaves its result for the join handle, and the waker of whoever awaits it.
pub(crate) struct JoinSlot<T> {
    result: RefCell<Option<Result<T, JoinError>>>,
    waiter: RefCell<Option<Waker>>,
}

impl<T> JoinSlot<T> {
    pub(crate) fn new() -> Self {
        Self {
            result: RefCell::new(None),
            waiter: RefCell::new(None),
        }
    }

    pub(crate) fn complete(&self, result: Result<T, JoinError>) {
        *self.result.borrow_mut() = Some(result);
        if let Some(waiter) = self.waiter.borrow_mut().take() {
            waiter.wake();
        }
    }
}

impl<T> Completion for JoinSlot<T> {
    fn panicked(&self, error: JoinError) {
        self.complete(Err(error));
    }
}

/// The spawner's side of a task: a future that resolves to the task's output (or to the panic
/// that ended it). Dropping it does not cancel the task, as in asyncio and tokio.
///
/// ```
/// use ch01_event_loop::event_loop::{block_on, spawn};
/// let answer = block_on(async { spawn(async { 6 * 7 }).await });
/// assert_eq!(answer.unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    pub(crate) slot: Rc<JoinSlot<T>>,
    pub(crate) id: TaskId,
}

impl<T> JoinHandle<T> {
    /// The id of the task this handle waits for (the one `--trace` prints).
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.slot.result.borrow_mut().take() {
            return Poll::Ready(result);
        }
        // Not finished: leave our waker so that the task's end puts us back on the queue.
        let mut waiter = self.slot.waiter.borrow_mut();
        match waiter.as_ref() {
            Some(known) if known.will_wake(cx.waker()) => {}
            _ => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}
