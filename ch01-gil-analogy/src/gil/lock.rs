//! Section 1.5: the global interpreter lock itself, modelled on CPython's (since 3.2).
//!
//! How CPython's lock behaves, and so how this one does:
//! - A thread must hold the lock to execute bytecode ([`PyThread::run`]).
//! - A thread that wants the lock waits at most one *switch interval* (5 ms by default, what
//!   `sys.getswitchinterval()` returns). If in that time nobody gave the lock up, it sets a "drop
//!   request"; the holder sees it between two instructions and lets go.
//! - The holder that was asked to let go then waits until somebody else has really taken the
//!   lock, so it cannot grab it straight back (CPython's `FORCE_SWITCHING`). Each time the lock
//!   changes hands, that is one *hand-off*.
//! - Around blocking I/O the lock is released without being asked ([`PyThread::blocking_io`]):
//!   the thread waits in the operating system, outside the interpreter.
//!
//! Every stretch of holding the lock is recorded as a [`SpanKind::Cpu`] span, every wait for it
//! as [`SpanKind::WaitLock`], every I/O wait as [`SpanKind::WaitIo`], so tests can check that
//! lock-holding spans of different threads never overlap.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use shared::legacy::{SpanKind, SpanRecorder};

use super::interpreter::Machine;

/// The longest a thread that was asked to give the lock up waits to see another thread take it.
/// Only a safety net (the waiter is always woken); it keeps every wait bounded.
const FORCED_SWITCH_PATIENCE: Duration = Duration::from_secs(1);

/// Who holds the lock, who held it last, and how many threads are waiting.
#[derive(Debug, Default)]
struct State {
    holder: Option<u64>,
    last_holder: Option<u64>,
    /// Grows every time the lock is taken; a waiter compares it to tell "nobody switched".
    switch_number: u64,
    waiting: usize,
}

/// A global interpreter lock (or, made with [`Gil::disabled`], the same interpreter without one).
///
/// ```
/// use std::time::Duration;
/// use ch01_gil_analogy::gil::Gil;
/// let gil = Gil::new(Duration::from_millis(5));
/// let value = gil.attach("main").run_fib(10);
/// assert_eq!(value, 34);
/// assert!(!gil.recorder().spans().is_empty());
/// ```
#[derive(Debug)]
pub struct Gil {
    enabled: bool,
    switch_interval: Duration,
    state: Mutex<State>,
    /// Signalled when the lock is released: wakes one waiter.
    released: Condvar,
    /// Signalled when the lock is taken: wakes a holder that was forced to let go.
    taken: Condvar,
    drop_request: AtomicBool,
    handoffs: AtomicU64,
    drop_requests: AtomicU64,
    next_thread: AtomicU64,
    recorder: SpanRecorder,
}

impl Gil {
    /// A lock that is given up every `switch_interval` when another thread asks for it.
    ///
    /// ```
    /// let gil = ch01_gil_analogy::gil::Gil::new(std::time::Duration::from_millis(5));
    /// assert!(gil.is_enabled());
    /// ```
    pub fn new(switch_interval: Duration) -> Self {
        Self::build(true, switch_interval)
    }

    /// No lock at all: every thread runs bytecode whenever the OS lets it (Rust's own threads).
    ///
    /// ```
    /// let gil = ch01_gil_analogy::gil::Gil::disabled();
    /// assert!(!gil.is_enabled());
    /// assert_eq!(gil.attach("main").run_fib(3), 1);
    /// ```
    pub fn disabled() -> Self {
        Self::build(false, Duration::MAX)
    }

    fn build(enabled: bool, switch_interval: Duration) -> Self {
        Self {
            enabled,
            switch_interval,
            state: Mutex::new(State::default()),
            released: Condvar::new(),
            taken: Condvar::new(),
            drop_request: AtomicBool::new(false),
            handoffs: AtomicU64::new(0),
            drop_requests: AtomicU64::new(0),
            next_thread: AtomicU64::new(1),
            recorder: SpanRecorder::new(),
        }
    }

    /// True for a real lock, false for [`Gil::disabled`].
    ///
    /// ```
    /// assert!(!ch01_gil_analogy::gil::Gil::disabled().is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Registers the calling thread with the interpreter under `name` (the timeline's row) and
    /// takes the lock. The lock is released when the returned [`PyThread`] is dropped.
    ///
    /// ```
    /// let gil = ch01_gil_analogy::gil::Gil::new(std::time::Duration::from_millis(5));
    /// let thread = gil.attach("main");
    /// assert_eq!(thread.name(), "main");
    /// ```
    pub fn attach(&self, name: impl Into<String>) -> PyThread<'_> {
        let mut thread = PyThread {
            gil: self,
            name: name.into(),
            id: self.next_thread.fetch_add(1, Ordering::Relaxed),
            holding_since: None,
        };
        thread.take();
        thread
    }

    /// How many times the lock passed from one thread to a different one.
    ///
    /// ```
    /// let gil = ch01_gil_analogy::gil::Gil::new(std::time::Duration::from_millis(5));
    /// gil.attach("only").run_fib(5);
    /// assert_eq!(gil.handoffs(), 0);
    /// ```
    pub fn handoffs(&self) -> u64 {
        self.handoffs.load(Ordering::Relaxed)
    }

    /// How many times a waiting thread, after a whole switch interval, asked the holder to let go.
    ///
    /// ```
    /// assert_eq!(ch01_gil_analogy::gil::Gil::disabled().drop_requests(), 0);
    /// ```
    pub fn drop_requests(&self) -> u64 {
        self.drop_requests.load(Ordering::Relaxed)
    }

    /// The spans recorded so far: holding the lock (`Cpu`), waiting for it (`WaitLock`), I/O.
    ///
    /// ```
    /// let gil = ch01_gil_analogy::gil::Gil::disabled();
    /// assert!(gil.recorder().is_empty());
    /// ```
    pub fn recorder(&self) -> &SpanRecorder {
        &self.recorder
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a few integers updated in single steps; a poisoned lock still holds them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A thread registered with the model interpreter: what CPython calls a thread state. It holds
/// the lock except while it waits for it or for I/O.
#[derive(Debug)]
pub struct PyThread<'g> {
    gil: &'g Gil,
    name: String,
    id: u64,
    holding_since: Option<Instant>,
}

impl PyThread<'_> {
    /// The name shown as this thread's row in timelines.
    ///
    /// ```
    /// assert_eq!(ch01_gil_analogy::gil::Gil::disabled().attach("t").name(), "t");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Computes the book's `fib(n)` by executing bytecode, giving the lock away when asked.
    ///
    /// ```
    /// let gil = ch01_gil_analogy::gil::Gil::new(std::time::Duration::from_millis(5));
    /// assert_eq!(gil.attach("main").run_fib(20), shared::workloads::fib(20));
    /// ```
    pub fn run_fib(&mut self, n: u32) -> u64 {
        self.run(&mut Machine::fib(n))
    }

    /// Executes a machine to the end under the lock.
    ///
    /// ```
    /// use ch01_gil_analogy::gil::{Gil, interpreter::Machine};
    /// let gil = Gil::disabled();
    /// assert_eq!(gil.attach("main").run(&mut Machine::fib(6)), 5);
    /// ```
    pub fn run(&mut self, machine: &mut Machine) -> u64 {
        let gil = self.gil;
        // Between two instructions, like CPython's eval breaker: one relaxed load, almost free.
        machine.run(|| {
            if gil.drop_request.load(Ordering::Relaxed) {
                // From the moment it let go, this thread is waiting for the lock to come back.
                let released_at = self.release(true).unwrap_or_else(Instant::now);
                self.take_waiting_since(released_at);
            }
        })
    }

    /// Runs blocking I/O with the lock released, as CPython does around a system call, and takes
    /// the lock back afterwards. The wait is recorded as a `WaitIo` span.
    ///
    /// ```
    /// let gil = ch01_gil_analogy::gil::Gil::new(std::time::Duration::from_millis(5));
    /// let mut thread = gil.attach("main");
    /// let slept = thread.blocking_io(|| std::thread::sleep(std::time::Duration::from_millis(2)));
    /// assert_eq!(slept, ());
    /// ```
    pub fn blocking_io<T>(&mut self, io: impl FnOnce() -> T) -> T {
        let _ = self.release(false);
        let value = self.gil.recorder.in_span(&self.name, SpanKind::WaitIo, io);
        self.take();
        value
    }

    /// Takes the lock, waiting (recorded as `WaitLock`) while another thread holds it.
    fn take(&mut self) {
        self.take_waiting_since(Instant::now());
    }

    /// Takes the lock; `asked` is when this thread started wanting it back.
    fn take_waiting_since(&mut self, asked: Instant) {
        let gil = self.gil;
        if !gil.enabled {
            self.holding_since = Some(Instant::now());
            return;
        }
        let mut state = gil.state();
        // After a forced switch the other thread holds the lock by now, so this one waits.
        let waited = state.holder.is_some();
        if waited {
            state.waiting += 1;
            while state.holder.is_some() {
                let switch_before = state.switch_number;
                let (next, timeout) = gil
                    .released
                    .wait_timeout(state, gil.switch_interval)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                state = next;
                if timeout.timed_out()
                    && state.holder.is_some()
                    && state.switch_number == switch_before
                    && !gil.drop_request.swap(true, Ordering::Relaxed)
                {
                    // A whole interval and nobody switched: ask the holder to let go.
                    gil.drop_requests.fetch_add(1, Ordering::Relaxed);
                }
            }
            state.waiting -= 1;
        }
        if state.last_holder.is_some_and(|last| last != self.id) {
            gil.handoffs.fetch_add(1, Ordering::Relaxed);
        }
        state.holder = Some(self.id);
        state.last_holder = Some(self.id);
        state.switch_number += 1;
        gil.drop_request.store(false, Ordering::Relaxed);
        // Read the clock while the state is still locked: the previous holder's span ended
        // before it unlocked, so the two spans cannot overlap.
        let now = Instant::now();
        drop(state);
        gil.taken.notify_all();
        if waited {
            gil.recorder
                .record(&self.name, SpanKind::WaitLock, asked, now);
        }
        self.holding_since = Some(now);
    }

    /// Gives the lock up and returns when. `forced` means another thread asked for it: then wait
    /// until that thread really has it, so this one cannot take it straight back.
    fn release(&mut self, forced: bool) -> Option<Instant> {
        let since = self.holding_since.take()?;
        let gil = self.gil;
        if !gil.enabled {
            let now = Instant::now();
            gil.recorder.record(&self.name, SpanKind::Cpu, since, now);
            return Some(now);
        }
        let mut state = gil.state();
        let now = Instant::now();
        state.holder = None;
        gil.released.notify_one();
        if forced && state.waiting > 0 {
            let switch_before = state.switch_number;
            let started = Instant::now();
            while state.switch_number == switch_before && started.elapsed() < FORCED_SWITCH_PATIENCE
            {
                state = gil
                    .taken
                    .wait_timeout(state, gil.switch_interval)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
            }
        }
        drop(state);
        gil.recorder.record(&self.name, SpanKind::Cpu, since, now);
        Some(now)
    }
}

impl Drop for PyThread<'_> {
    fn drop(&mut self) {
        let _ = self.release(false);
    }
}
