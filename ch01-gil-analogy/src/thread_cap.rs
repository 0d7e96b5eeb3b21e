//! Section 1.5's coroutine demo starts up to a million units; as OS threads that many would take
//! the machine down. This module says how many threads are safe to start here, and why: half of
//! what is left under each of four limits (the last three read from Linux's `/proc`):
//! - `RLIMIT_NPROC` (`ulimit -u`): threads and processes one user may have, all programs together;
//! - `/proc/sys/kernel/threads-max`: threads the whole system may have;
//! - `/proc/sys/vm/max_map_count`: memory mappings per process; each thread takes four (its
//!   stack, signal stack and their guard pages), and running out aborts the process;
//! - available memory: each thread costs kernel memory and the stack pages it touches.

/// How many threads one process may start here, and the limit that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCap {
    /// The most threads to start.
    pub max_threads: u64,
    /// Which limit set `max_threads`, in words.
    pub reason: String,
}

/// Memory we count per thread: a 16 KiB kernel stack, page tables and the few stack pages it
/// touches, rounded up generously.
const BYTES_PER_THREAD: u64 = 256 * 1024;

/// What this machine allows right now (None: not known here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// The soft `RLIMIT_NPROC`, unless unlimited.
    pub nproc: Option<u64>,
    /// Threads on the whole system now (the fourth field of `/proc/loadavg` is running/total).
    pub threads_in_use: u64,
    /// `kernel.threads-max`.
    pub threads_max: Option<u64>,
    /// `vm.max_map_count`.
    pub max_map_count: Option<u64>,
    /// Available memory in bytes (`MemAvailable`).
    pub available_memory: Option<u64>,
}

impl Limits {
    /// Reads the limits of this machine.
    pub fn read() -> Self {
        let read = |path| std::fs::read_to_string(path).unwrap_or_default();
        let number = |path| read(path).trim().parse().ok();
        let loadavg = read("/proc/loadavg");
        let running_and_total = loadavg.split_whitespace().nth(3);
        let threads = running_and_total.and_then(|f| f.split('/').nth(1));
        let kib = crate::child::kb_field(&read("/proc/meminfo"), "MemAvailable:");
        Self {
            nproc: nproc_limit(),
            threads_in_use: threads.and_then(|t| t.parse().ok()).unwrap_or(0),
            threads_max: number("/proc/sys/kernel/threads-max"),
            max_map_count: number("/proc/sys/vm/max_map_count"),
            available_memory: kib.map(|kib| kib * 1024),
        }
    }
}

/// The cap under the given limits: the smallest of the shares below, and which one it was.
pub fn cap(machine: &Limits) -> ThreadCap {
    let left = |limit: Option<u64>, what| {
        let left = limit?.saturating_sub(machine.threads_in_use);
        let why = format!("half of the {left} threads {what} still allows");
        Some((left / 2, why))
    };
    // Running out of mappings does not fail the spawn cleanly: the new thread aborts the
    // process. An eighth (four mappings a thread) leaves the other half for everything else.
    let maps = machine.max_map_count.map(|maps| {
        let why = format!("vm.max_map_count = {maps}, at four mappings per thread, halved");
        (maps / 8, why)
    });
    let memory = machine.available_memory.map(|bytes| {
        let mib = bytes >> 20;
        let why = format!("half of {mib} MiB of available memory at 256 KiB per thread");
        (bytes / BYTES_PER_THREAD / 2, why)
    });
    let unknown = "10,000: this platform does not say how much memory is free";
    let memory = memory.unwrap_or((10_000, unknown.into()));
    let nproc = left(machine.nproc, "RLIMIT_NPROC");
    let threads_max = left(machine.threads_max, "kernel.threads-max");
    let tightest = [nproc, threads_max, maps, Some(memory)]
        .into_iter()
        .flatten();
    let (max_threads, reason) = tightest.min_by_key(|(max, _)| *max).unwrap_or_default();
    ThreadCap {
        max_threads: max_threads.max(1),
        reason,
    }
}

/// The soft `RLIMIT_NPROC`, if there is one.
fn nproc_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // mutants: `||` -> `&&` differs only where the limit is unlimited or getrlimit fails;
    // a test cannot lift its own soft limit above a finite hard one to see it.
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    Some(limit.rlim_cur)
}
