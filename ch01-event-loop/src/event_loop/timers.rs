//! Section 1.7, "wait for I/O or the next timer": `sleep` for tasks, and the heap of deadlines that
//! tells the loop how long it may block in the OS.
//!
//! A sleeping task costs no thread and no polling: its deadline sits in a binary heap ordered by
//! time, the loop passes "time until the earliest deadline" as the timeout of `epoll_wait`, and
//! after each wait it pops every deadline that has passed and wakes its task. A sleep never ends
//! early: the future itself compares the clock with its deadline before it says `Ready`.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::executor::with_core;

/// One registered sleep: the waker to call at the deadline (`None` once fired or cancelled).
#[derive(Default)]
struct TimerState {
    waker: RefCell<Option<Waker>>,
}

struct Deadline {
    at: Instant,
    /// Registration order: equal deadlines fire first-come first-served.
    seq: u64,
    state: Rc<TimerState>,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The loop's timers: a min-heap of deadlines (`Reverse` turns std's max-heap around).
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Deadline>>,
    next_seq: u64,
}

impl Timers {
    fn insert(&mut self, at: Instant, waker: Waker) -> Rc<TimerState> {
        let state = Rc::new(TimerState {
            waker: RefCell::new(Some(waker)),
        });
        self.next_seq += 1;
        self.heap.push(Reverse(Deadline {
            at,
            seq: self.next_seq,
            state: Rc::clone(&state),
        }));
        state
    }

    /// The earliest deadline, which bounds how long the loop may sleep.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(deadline)| deadline.at)
    }

    /// Pops every deadline at or before `now` and returns their wakers, in deadline order. The
    /// caller wakes them after releasing the heap (a woken waker could be anything).
    pub(crate) fn take_due(&mut self, now: Instant, due: &mut Vec<Waker>) {
        while let Some(Reverse(first)) = self.heap.peek() {
            if first.at > now {
                break;
            }
            let Some(Reverse(deadline)) = self.heap.pop() else {
                break;
            };
            // A cancelled sleep left its entry behind (removing from the middle of a heap is
            // costly); it has no waker and is simply dropped here.
            if let Some(waker) = deadline.state.waker.borrow_mut().take() {
                due.push(waker);
            }
        }
    }
}

/// A future that completes at `deadline`; made by [`sleep`] and [`sleep_until`].
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    registered: Option<Rc<TimerState>>,
}

/// Completes after `duration` (never earlier). Needs a running [`EventLoop`](super::EventLoop).
///
/// ```
/// use std::time::{Duration, Instant};
/// use ch01_event_loop::event_loop::{block_on, sleep};
/// let started = Instant::now();
/// block_on(sleep(Duration::from_millis(20)));
/// assert!(started.elapsed() >= Duration::from_millis(20));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// Completes at `deadline` (at once if it has passed).
///
/// ```
/// use std::time::Instant;
/// ch01_event_loop::event_loop::block_on(ch01_event_loop::event_loop::sleep_until(Instant::now()));
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        registered: None,
    }
}

impl Sleep {
    /// When this sleep ends.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The clock decides, not the heap: this is what makes "never early" hold.
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.registered {
            // Polled again before the deadline (by a combinator, or woken twice): keep the heap
            // entry, but make sure it will wake whoever polls us now.
            Some(state) => {
                let mut waker = state.waker.borrow_mut();
                match waker.as_ref() {
                    Some(known) if known.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
            }
            None => {
                let deadline = self.deadline;
                let state = with_core(|core| {
                    core.timers
                        .borrow_mut()
                        .insert(deadline, cx.waker().clone())
                });
                self.registered = Some(state);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // Cancel: the heap entry stays until its deadline but wakes nobody.
        if let Some(state) = &self.registered {
            state.waker.borrow_mut().take();
        }
    }
}

/// The time left until `deadline`, for the OS wait: zero once it has passed.
pub(crate) fn until(deadline: Instant, now: Instant) -> Duration {
    deadline.saturating_duration_since(now)
}
