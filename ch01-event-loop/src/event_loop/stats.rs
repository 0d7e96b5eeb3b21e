//! Section 1.7 in numbers: how many iterations the loop made, how many times it polled a task,
//! and what woke it (I/O readiness or timers).

/// Counters of one [`EventLoop`](super::EventLoop), read with `EventLoop::stats`.
///
/// ```
/// use ch01_event_loop::event_loop::EventLoop;
/// let event_loop = EventLoop::new().unwrap();
/// event_loop.block_on(async {});
/// let stats = event_loop.stats();
/// assert_eq!((stats.iterations, stats.polls), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Turns of the loop: run the ready tasks, wait for I/O or a timer, wake what became ready.
    pub iterations: u64,
    /// Calls to a task's (or the main future's) `poll`.
    pub polls: u64,
    /// Task ids taken from the wake queue (one per wake, stale ones included).
    pub wakeups: u64,
    /// Wakes for tasks that had already finished: ignored.
    pub stale_wakeups: u64,
    /// Readiness events the OS reported for our sockets.
    pub io_events: u64,
    /// Timers whose deadline passed and whose task was woken.
    pub timers_fired: u64,
    /// Tasks spawned.
    pub spawned: u64,
    /// Tasks that ran to completion.
    pub completed: u64,
    /// Tasks that panicked and were removed.
    pub panicked: u64,
}
