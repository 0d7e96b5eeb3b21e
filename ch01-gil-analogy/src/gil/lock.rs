//! Section 1.5: the global interpreter lock itself, modelled on CPython's (since 3.2).
//!
//! In CPython the GIL guards *all* interpreter state: reference counts, the object allocator,
//! module and type dictionaries, and every call into the C API. A thread must hold it to touch any
//! of that, which in practice means to execute bytecode. How CPython's lock behaves, and so how
//! this one does:
//! - A thread must hold the lock to execute bytecode ([`PyThread::run_fib`]).
//! - A thread that wants the lock waits at most one *switch interval* (5 ms by default, what
//!   `sys.getswitchinterval()` returns). If in that time nobody gave the lock up, it sets a "drop
//!   request". The holder does not see it between any two instructions: CPython checks its "eval
//!   breaker" only at certain points (backward jumps, that is loop iterations, and function
//!   calls); our machine checks at every instruction, which only makes it react a little sooner.
//! - The holder that was asked to let go then waits until somebody else has really taken the
//!   lock, so it cannot grab it straight back (CPython's `FORCE_SWITCHING`).
//! - Around blocking I/O the lock is released without being asked ([`PyThread::blocking_io`]):
//!   the thread waits in the operating system, outside the interpreter.
//!
//! The lock reports what it does as `tracing` spans, all named `thread` with the thread's name as
//! a field, so one timeline row shows one thread: holding the lock (no `waiting_for`), waiting for
//! it (`waiting_for = "lock"`, drawn `!`) and waiting on I/O with the lock released
//! (`waiting_for = "io"`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing::info_span;
use tracing::span::EnteredSpan;

use super::interpreter::Machine;

/// The longest a thread that was asked to give the lock up waits to see another thread take it.
/// Only a safety net (the waiter is always woken); it keeps every wait bounded.
const FORCED_SWITCH_PATIENCE: Duration = Duration::from_secs(1);

/// Who holds the lock and how many threads are waiting for it.
#[derive(Debug, Default)]
struct State {
    holder: Option<u64>,
    /// Grows every time the lock is taken; a waiter compares it to tell "nobody switched".
    switch_number: u64,
    waiting: usize,
}

/// A global interpreter lock (or, made with [`Gil::disabled`], the same interpreter without one).
#[derive(Debug, Default)]
pub struct Gil {
    enabled: bool,
    switch_interval: Duration,
    state: Mutex<State>,
    /// Signalled when the lock is released: wakes one waiter.
    released: Condvar,
    /// Signalled when the lock is taken: wakes a holder that was forced to let go.
    taken: Condvar,
    drop_request: AtomicBool,
    drop_requests: AtomicU64,
    next_thread: AtomicU64,
}

impl Gil {
    /// A lock that is given up every `switch_interval` when another thread asks for it.
    pub fn new(switch_interval: Duration) -> Self {
        Self {
            enabled: true,
            switch_interval,
            ..Self::disabled()
        }
    }

    /// No lock at all: every thread runs bytecode whenever the OS lets it, as on a free-threaded
    /// CPython (3.13t, PEP 703) or with Rust's own threads.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// True for a real lock, false for [`Gil::disabled`].
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Registers the calling thread with the interpreter under `name` (its timeline row) and
    /// takes the lock. The lock is released when the returned [`PyThread`] is dropped.
    pub fn attach(&self, name: impl Into<String>) -> PyThread<'_> {
        let mut thread = PyThread {
            gil: self,
            name: name.into(),
            id: self.next_thread.fetch_add(1, Ordering::Relaxed),
            holding: None,
        };
        thread.take(None);
        thread
    }

    /// How many times a waiting thread, after a whole switch interval, asked the holder to let go.
    pub fn drop_requests(&self) -> u64 {
        self.drop_requests.load(Ordering::Relaxed)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a few integers updated in single steps; a poisoned lock still holds them.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A thread registered with the model interpreter: what CPython calls a thread state. It holds
/// the lock except while it waits for it or for I/O.
#[derive(Debug)]
pub struct PyThread<'g> {
    gil: &'g Gil,
    name: String,
    id: u64,
    /// The `thread` span entered while this thread holds the lock.
    holding: Option<EnteredSpan>,
}

impl PyThread<'_> {
    /// Computes the book's `fib(n)` by executing bytecode, giving the lock away when asked.
    pub fn run_fib(&mut self, n: u32) -> u64 {
        Machine::fib(n).run(|| self.eval_breaker())
    }

    /// Executes one "instruction" of our own under the lock, then checks the eval breaker as
    /// after any bytecode instruction. The `refcount` demo's increments run this way, as a
    /// CPython thread's `Py_INCREF` runs while it holds the GIL.
    pub fn execute<T>(&mut self, instruction: impl FnOnce() -> T) -> T {
        let value = instruction();
        self.eval_breaker();
        value
    }

    /// The eval breaker: one relaxed load between instructions, almost free; when another
    /// thread asked for the lock, give it away and queue to take it back.
    fn eval_breaker(&mut self) {
        if self.gil.drop_request.load(Ordering::Relaxed) {
            let waiting = self.release(true);
            self.take(waiting);
        }
    }

    /// Runs blocking I/O with the lock released, as CPython does around a system call
    /// (`Py_BEGIN_ALLOW_THREADS`), and takes the lock back afterwards.
    pub fn blocking_io<T>(&mut self, io: impl FnOnce() -> T) -> T {
        drop(self.release(false));
        let name = self.name.as_str();
        let value = info_span!("thread", name, waiting_for = "io").in_scope(io);
        self.take(None);
        value
    }

    /// Takes the lock, waiting while another thread holds it. `waiting` is the lock-wait span
    /// already open when this thread was made to let go a moment ago.
    fn take(&mut self, mut waiting: Option<EnteredSpan>) {
        let (gil, name) = (self.gil, self.name.as_str());
        if !gil.enabled {
            self.holding = Some(info_span!("thread", name).entered());
            return;
        }
        let mut state = gil.state();
        if state.holder.is_some() {
            let _waiting = waiting
                .take()
                .unwrap_or_else(|| info_span!("thread", name, waiting_for = "lock").entered());
            state.waiting += 1;
            while state.holder.is_some() {
                let switch_before = state.switch_number;
                let (next, timeout) = gil
                    .released
                    .wait_timeout(state, gil.switch_interval)
                    .unwrap_or_else(PoisonError::into_inner);
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
            // mutants: `-=` -> `+=`/`/=` go unnoticed: a forced release always has a waiter.
            state.waiting -= 1;
            // `_waiting` closes here, before the holding span opens.
        }
        drop(waiting);
        state.holder = Some(self.id);
        state.switch_number += 1;
        gil.drop_request.store(false, Ordering::Relaxed);
        // Opened while the state is still locked: the previous holder closed its span before it
        // let go, so two threads' holding spans can never overlap.
        self.holding = Some(info_span!("thread", name).entered());
        drop(state);
        gil.taken.notify_all();
    }

    /// Gives the lock up. `forced` means another thread asked for it: then wait until that
    /// thread really has it, so this one cannot take it straight back; the wait is returned as
    /// an open lock-wait span, for [`take`](Self::take) to close.
    fn release(&mut self, forced: bool) -> Option<EnteredSpan> {
        let gil = self.gil;
        if !gil.enabled {
            self.holding = None;
            return None;
        }
        let mut state = gil.state();
        // Closed before the lock is free (see `take`).
        drop(self.holding.take()?);
        state.holder = None;
        gil.released.notify_one();
        // mutants: `>` -> `>=` and `&&` -> `||` go unnoticed: `forced` implies `waiting > 0`,
        // and an unasked release that waits for a taker only waits for what happens next anyway.
        if !(forced && state.waiting > 0) {
            return None;
        }
        let name = self.name.as_str();
        let waiting = info_span!("thread", name, waiting_for = "lock").entered();
        let switch_before = state.switch_number;
        let started = Instant::now();
        // mutants: `<` replaced with `<=` is equivalent (the clock never stops at the patience).
        while state.switch_number == switch_before && started.elapsed() < FORCED_SWITCH_PATIENCE {
            state = gil
                .taken
                .wait_timeout(state, gil.switch_interval)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Some(waiting)
    }
}

impl Drop for PyThread<'_> {
    fn drop(&mut self) {
        drop(self.release(false));
    }
}
