//! Section 1.6: what an echo server saw, counted by the server itself.
//!
//! The claims of 1.6 are about the *server's* point of view ("how many clients did one thread
//! serve at once?"), so the servers count, and the demos and tests read the counts. Counters are
//! atomics because two of the three servers use more than one thread.
//!
//! Each server thread also counts its OS context switches (the OS taking it off its CPU):
//! voluntary ones, because it blocked (in `read`, in `poll`), and involuntary ones, because its
//! time slice was up or a more deserving thread woke. It registers when it starts
//! ([`EchoStats::thread_started`]) and is counted from then on, from `/proc/self/task/<tid>/status`
//! while it runs and by itself (`getrusage`) when it ends. Linux only: elsewhere the counts stay 0.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use shared::timing::os_thread_id;

/// Live counters, shared between a running server and whoever watches it.
#[derive(Debug, Default)]
pub struct EchoStats {
    connected: AtomicU64,
    max_connected: AtomicU64,
    accepted: AtomicU64,
    threads_started: AtomicU64,
    bytes_echoed: AtomicU64,
    dropped_on_error: AtomicU64,
    read_pauses: AtomicU64,
    peak_buffered_bytes: AtomicU64,
    accept_backoffs: AtomicU64,
    switches: Mutex<Switches>,
}

/// Context switches of the server's threads: those still running, with their count when they
/// registered, and the sum of those that ended.
#[derive(Debug, Default)]
struct Switches {
    running: Vec<(u64, SwitchCount)>,
    of_ended_threads: SwitchCount,
}

/// Context switches of one thread, or of several, by why the OS took them off their CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwitchCount {
    /// The thread blocked (in `read`, `poll`, a sleep...) and gave up its CPU.
    pub voluntary: u64,
    /// The OS preempted it: its time slice was up, or another thread woke and took its CPU.
    pub involuntary: u64,
}

impl SwitchCount {
    fn since(self, start: SwitchCount) -> SwitchCount {
        SwitchCount {
            voluntary: self.voluntary.saturating_sub(start.voluntary),
            involuntary: self.involuntary.saturating_sub(start.involuntary),
        }
    }

    fn plus(self, other: SwitchCount) -> SwitchCount {
        SwitchCount {
            voluntary: self.voluntary + other.voluntary,
            involuntary: self.involuntary + other.involuntary,
        }
    }
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Clients connected right now.
    pub connected: u64,
    /// The most clients that were connected at the same moment.
    pub max_connected: u64,
    /// Connections accepted in total.
    pub accepted: u64,
    /// Threads the server started (the thread that runs the server counts as one).
    pub threads_started: u64,
    /// Bytes written back to clients.
    pub bytes_echoed: u64,
    /// Clients dropped because their connection failed (reset, broken pipe, ...).
    pub dropped_on_error: u64,
    /// Times the server stopped reading from a client because too much output was pending.
    pub read_pauses: u64,
    /// The largest output buffer any one connection held (bytes read, not yet written back).
    pub peak_buffered_bytes: u64,
    /// Times `accept` failed (e.g. out of file descriptors) and the server backed off.
    pub accept_backoffs: u64,
    /// OS context switches (voluntary and involuntary) of the server's threads since each
    /// registered: Linux only, 0 elsewhere.
    pub context_switches: u64,
    /// Of those, the voluntary ones: a server thread blocked (in `read` or in `poll`).
    pub voluntary_switches: u64,
}

impl EchoStats {
    /// A client was accepted.
    pub fn client_connected(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let now = self.connected.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_connected.fetch_max(now, Ordering::SeqCst);
    }

    /// A client's connection is closed (cleanly or not).
    pub fn client_left(&self) {
        self.connected.fetch_sub(1, Ordering::SeqCst);
    }

    /// The calling thread is one of the server's: count it, and its context switches until the
    /// returned guard is dropped (on this same thread, when it is done).
    #[must_use = "the thread's context switches are counted until the guard is dropped"]
    pub fn thread_started(self: &Arc<Self>) -> ServerThread {
        self.threads_started.fetch_add(1, Ordering::Relaxed);
        let tid = os_thread_id();
        let now = own_switches();
        self.switches().running.push((tid, now));
        ServerThread {
            stats: Arc::clone(self),
            tid,
        }
    }

    /// Like [`EchoStats::thread_started`], unless the calling thread is counted already (`None`).
    #[must_use = "the thread's context switches are counted until the guard is dropped"]
    pub fn thread_started_unless_counted(self: &Arc<Self>) -> Option<ServerThread> {
        let tid = os_thread_id();
        let counted = self.switches().running.iter().any(|&(t, _)| t == tid);
        (!counted).then(|| self.thread_started())
    }

    fn switches(&self) -> MutexGuard<'_, Switches> {
        self.switches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `n` bytes went back to a client.
    pub fn echoed(&self, n: usize) {
        self.bytes_echoed.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A client was dropped because of an I/O error on its connection.
    pub fn dropped_on_error(&self) {
        self.dropped_on_error.fetch_add(1, Ordering::Relaxed);
    }

    /// Reading from a client paused because its output buffer is full.
    pub fn read_paused(&self) {
        self.read_pauses.fetch_add(1, Ordering::Relaxed);
    }

    /// One connection now buffers `bytes` bytes of output.
    pub fn buffered(&self, bytes: usize) {
        self.peak_buffered_bytes
            .fetch_max(bytes as u64, Ordering::Relaxed);
    }

    /// `accept` failed and the server stops accepting for a moment.
    pub fn accept_backed_off(&self) {
        self.accept_backoffs.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as they are now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let switches = self.context_switches();
        StatsSnapshot {
            connected: self.connected.load(Ordering::SeqCst),
            max_connected: self.max_connected.load(Ordering::SeqCst),
            accepted: self.accepted.load(Ordering::Relaxed),
            threads_started: self.threads_started.load(Ordering::Relaxed),
            bytes_echoed: self.bytes_echoed.load(Ordering::Relaxed),
            dropped_on_error: self.dropped_on_error.load(Ordering::Relaxed),
            read_pauses: self.read_pauses.load(Ordering::Relaxed),
            peak_buffered_bytes: self.peak_buffered_bytes.load(Ordering::Relaxed),
            accept_backoffs: self.accept_backoffs.load(Ordering::Relaxed),
            context_switches: switches.voluntary + switches.involuntary,
            voluntary_switches: switches.voluntary,
        }
    }

    fn context_switches(&self) -> SwitchCount {
        let switches = self.switches();
        switches
            .running
            .iter()
            .map(|&(tid, at_start)| {
                switches_of(tid).map_or_else(SwitchCount::default, |now| now.since(at_start))
            })
            .fold(switches.of_ended_threads, SwitchCount::plus)
    }
}

/// One of the server's threads, counted until dropped (see [`EchoStats::thread_started`]).
#[derive(Debug)]
pub struct ServerThread {
    stats: Arc<EchoStats>,
    tid: u64,
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        let now = own_switches();
        let mut switches = self.stats.switches();
        if let Some(at) = switches.running.iter().position(|(t, _)| *t == self.tid) {
            let (_, at_start) = switches.running.swap_remove(at);
            switches.of_ended_threads = switches.of_ended_threads.plus(now.since(at_start));
        }
    }
}

/// The calling thread's context switches so far (`getrusage`, which a thread may ask about itself).
#[cfg(target_os = "linux")]
fn own_switches() -> SwitchCount {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid and writable; RUSAGE_THREAD means the calling thread.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return SwitchCount::default();
    }
    SwitchCount {
        voluntary: usage.ru_nvcsw as u64,
        involuntary: usage.ru_nivcsw as u64,
    }
}

/// Context switches of one thread of this process so far, as the kernel reports them in
/// `/proc/self/task/<tid>/status` (the same counters `getrusage` reads).
#[cfg(target_os = "linux")]
fn switches_of(tid: u64) -> Option<SwitchCount> {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find_map(|line| line.strip_prefix(name))?;
        line.trim().parse().ok()
    };
    Some(SwitchCount {
        voluntary: field("voluntary_ctxt_switches:")?,
        involuntary: field("nonvoluntary_ctxt_switches:")?,
    })
}

/// Other systems have neither: no count.
#[cfg(not(target_os = "linux"))]
fn own_switches() -> SwitchCount {
    SwitchCount::default()
}

/// Other systems have no `/proc/self/task`: no count.
#[cfg(not(target_os = "linux"))]
fn switches_of(_tid: u64) -> Option<SwitchCount> {
    None
}
