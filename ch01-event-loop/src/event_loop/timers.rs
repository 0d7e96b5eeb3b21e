//! Section 1.7, "wait for I/O or the next timer": the deadlines that tell the loop how long it may
//! block in the OS (asyncio's `loop._scheduled`, filled by `call_at`).
//!
//! A sleeping task costs no thread and no polling: its deadline and waker sit in a map sorted by
//! time (asyncio keeps a heap; a sorted map says the same in less code). The loop passes "time
//! until the earliest deadline" as the timeout of `epoll_wait`, and after each wait takes every
//! deadline that has passed and wakes its task.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::{Duration, Instant};

/// The loop's timers, earliest first. Equal deadlines fire in the order they were added: the
/// key's second half counts additions.
///
/// A sleep dropped before its deadline leaves its entry behind, as a cancelled asyncio
/// `TimerHandle` stays in `_scheduled`: the one late wake-up it causes is harmless (a woken
/// future that cannot progress returns `Pending`).
#[derive(Default)]
pub(crate) struct Timers {
    deadlines: BTreeMap<(Instant, u64), Waker>,
    added: u64,
}

impl Timers {
    /// Wakes `waker` at `at` or later, never earlier.
    pub(crate) fn add(&mut self, at: Instant, waker: Waker) {
        self.added += 1;
        self.deadlines.insert((at, self.added), waker);
    }

    /// How long the loop may block before the earliest deadline (`None`: no timers at all).
    pub(crate) fn time_to_next(&self, now: Instant) -> Option<Duration> {
        let (&(first, _), _) = self.deadlines.first_key_value()?;
        Some(first.saturating_duration_since(now))
    }

    /// The waker of the earliest deadline at or before `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Waker> {
        let entry = self.deadlines.first_entry()?;
        (entry.key().0 <= now).then(|| entry.remove())
    }
}
