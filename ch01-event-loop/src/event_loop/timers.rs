//! Section 1.7, "wait for I/O or the next timer": the heap of deadlines that tells the loop how
//! long it may block in the OS (asyncio's `loop._scheduled`, filled by `call_at`).
//!
//! A sleeping task costs no thread and no polling: its deadline and waker sit in a binary heap
//! ordered by time. The loop passes "time until the earliest deadline" as the timeout of
//! `epoll_wait`, and after each wait pops every deadline that has passed and wakes its task.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::{Duration, Instant};

/// One registered deadline. Equal deadlines fire in the order they were added (`seq`).
struct Deadline {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl Deadline {
    fn key(&self) -> (Instant, u64) {
        (self.at, self.seq)
    }
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// The loop's timers: a min-heap of deadlines (`Reverse` turns std's max-heap around).
///
/// A sleep dropped before its deadline leaves its entry behind, as a cancelled asyncio
/// `TimerHandle` stays in `_scheduled`: removing from the middle of a heap is costly, and the one
/// late wake-up it causes is harmless (a woken future that cannot progress returns `Pending`).
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Deadline>>,
    added: u64,
}

impl Timers {
    /// Wakes `waker` at `at` or later, never earlier.
    pub(crate) fn add(&mut self, at: Instant, waker: Waker) {
        self.added += 1;
        let seq = self.added;
        self.heap.push(Reverse(Deadline { at, seq, waker }));
    }

    /// How long the loop may block before the earliest deadline (`None`: no timers at all).
    pub(crate) fn time_to_next(&self, now: Instant) -> Option<Duration> {
        let Reverse(first) = self.heap.peek()?;
        Some(first.at.saturating_duration_since(now))
    }

    /// The waker of the earliest deadline at or before `now`, removed from the heap.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Waker> {
        let Reverse(first) = self.heap.peek()?;
        if first.at > now {
            return None;
        }
        self.heap.pop().map(|Reverse(deadline)| deadline.waker)
    }
}
