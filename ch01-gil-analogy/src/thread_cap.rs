//! Section 1.5's coroutine demo starts up to a million units; as OS threads that many would take
//! the machine down. This module says how many threads are safe to start here, and why.
//!
//! Four limits count (Linux; elsewhere only memory is guessed at, very cautiously):
//! - `RLIMIT_NPROC` (`ulimit -u`): threads and processes one user may have, all programs together;
//! - `/proc/sys/kernel/threads-max`: threads the whole system may have;
//! - `/proc/sys/vm/max_map_count`: memory mappings per process; each thread takes four (its
//!   stack, signal stack and their guard pages), and running out aborts the process;
//! - available memory: each thread costs kernel memory and the stack pages it touches.
//!
//! We take half of what is left under each, so the machine keeps room for everything else.

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

/// What this machine allows right now, as [`current`] reads it (None: not known here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// The soft `RLIMIT_NPROC`, unless unlimited.
    pub nproc: Option<u64>,
    /// Threads on the whole system now.
    pub threads_in_use: u64,
    /// `kernel.threads-max`.
    pub threads_max: Option<u64>,
    /// `vm.max_map_count`.
    pub max_map_count: Option<u64>,
    /// Available memory in bytes.
    pub available_memory: Option<u64>,
}

impl Limits {
    /// Reads the limits of this machine.
    pub fn read() -> Self {
        Self {
            nproc: nproc_limit(),
            threads_in_use: threads_in_use(),
            threads_max: read_number("/proc/sys/kernel/threads-max"),
            max_map_count: read_number("/proc/sys/vm/max_map_count"),
            available_memory: available_memory(),
        }
    }
}

/// The cap for this machine right now.
///
/// ```
/// let cap = ch01_gil_analogy::thread_cap::current();
/// assert!(cap.max_threads >= 1, "{cap:?}");
/// ```
pub fn current() -> ThreadCap {
    cap(&Limits::read())
}

/// The cap under the given limits: the smallest of the shares below, and which one it was.
pub fn cap(machine: &Limits) -> ThreadCap {
    let mut limits: Vec<(u64, String)> = Vec::new();
    let in_use = machine.threads_in_use;
    if let Some(nproc) = machine.nproc {
        let left = nproc.saturating_sub(in_use);
        limits.push((
            left / 2,
            format!("half of the {left} threads and processes RLIMIT_NPROC still allows"),
        ));
    }
    if let Some(max) = machine.threads_max {
        let left = max.saturating_sub(in_use);
        limits.push((
            left / 2,
            format!("half of the {left} threads kernel.threads-max still allows"),
        ));
    }
    if let Some(maps) = machine.max_map_count {
        // A Rust thread maps four areas: its stack, the stack's guard page, the signal stack and
        // its guard. Running out does not fail the spawn cleanly: the new thread aborts the
        // process. An eighth leaves the other half for everything else.
        limits.push((
            maps / 8,
            format!("vm.max_map_count = {maps}, at four mappings per thread, halved"),
        ));
    }
    match machine.available_memory {
        Some(bytes) => limits.push((
            bytes / BYTES_PER_THREAD / 2,
            format!(
                "half of {} MiB of available memory at 256 KiB per thread",
                bytes >> 20
            ),
        )),
        None => limits.push((
            10_000,
            "10,000: this platform does not say how much memory is available".into(),
        )),
    }
    let (max_threads, reason) = limits
        .into_iter()
        .min_by_key(|(max, _)| *max)
        .unwrap_or((1, String::new()));
    ThreadCap {
        max_threads: max_threads.max(1),
        reason,
    }
}

/// The soft `RLIMIT_NPROC`, if there is one.
fn nproc_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
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
    #[cfg(not(target_os = "linux"))]
    None
}

/// Threads on the whole system now: the fourth field of `/proc/loadavg` is `running/total`.
fn threads_in_use() -> u64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| {
            let field = text.split_whitespace().nth(3)?;
            field.split('/').nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
