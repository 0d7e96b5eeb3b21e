//! Wall time and CPU time, side by side (sections 1.1 to 1.3): their difference is the whole
//! lesson of section 1.2, I/O-bound work spends wall time without CPU time. [`Stopwatch`] reads
//! both for the process; [`ThreadUsage`] reads one thread's CPU time and OS context switches,
//! which the [span layer](crate::trace) records at every enter and exit.
//!
//! ```
//! use std::time::Duration;
//! use shared::timing::*;
//! assert_eq!(measure(|| (1..=10).sum::<u32>()).0, 55);
//! let waited = Usage { wall: Duration::from_millis(100), cpu: Duration::from_millis(5) };
//! assert!((waited.cpu_per_wall() - 0.05).abs() < 1e-9 && ratio(5.0, 0.0) == 0.0);
//! let children = children_cpu_time();
//! assert!(children_cpu_time() >= children);
//! assert_ne!(os_thread_id(), std::thread::spawn(os_thread_id).join().unwrap());
//! assert!(peak_rss_kb() > 0);
//! assert_eq!(human(Duration::from_millis(850)), "850.0 ms");
//! assert_eq!(human(Duration::from_millis(1250)), "1.25 s");
//! assert_eq!(human(Duration::from_micros(12)), "12 µs");
//! assert_eq!((ms(Duration::from_micros(1500)), human_ms(14210.0).as_str()), (1.5, "14.21 s"));
//! ```

use std::time::{Duration, Instant};

/// Measures wall time and process CPU time from the moment it was started.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    started: Instant,
    cpu_then: Duration,
}

impl Stopwatch {
    /// Starts measuring now.
    pub fn start() -> Self {
        let cpu_then = process_cpu_time();
        let started = Instant::now();
        Self { started, cpu_then }
    }

    /// Wall-clock time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Wall time and the CPU time of every thread of this process since the start.
    pub fn usage(&self) -> Usage {
        // The CPU clock first, the cheaper wall reading after: cpu <= wall for one busy thread.
        let cpu = process_cpu_time().saturating_sub(self.cpu_then);
        let wall = self.elapsed();
        Usage { wall, cpu }
    }
}

/// Wall time and CPU time of one piece of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Time on the wall clock.
    pub wall: Duration,
    /// CPU time of the whole process (user + system) over the same interval.
    pub cpu: Duration,
}

impl Usage {
    /// CPU time divided by wall time: near 0 for waiting, near 1 for one busy core, up to the
    /// number of cores for parallel work; 0 when no wall time passed.
    pub fn cpu_per_wall(&self) -> f64 {
        ratio(self.cpu.as_secs_f64(), self.wall.as_secs_f64())
    }
}

/// Runs `work` and returns its value with the [`Usage`] it took.
pub fn measure<T>(work: impl FnOnce() -> T) -> (T, Usage) {
    let watch = Stopwatch::start();
    let value = work();
    (value, watch.usage())
}

/// `a / b`, or 0 when `b` is 0: speedups and CPU shares of runs too short to measure.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

/// CPU time (user + system) used so far by every thread of this process.
pub fn process_cpu_time() -> Duration {
    read_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time (user + system) used so far by the calling thread only.
pub fn thread_cpu_time() -> Duration {
    read_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// One of the system's clocks (CPU clocks here, the monotonic clock in `trace`); zero if unreadable.
pub(crate) fn read_clock(clock: libc::clockid_t) -> Duration {
    // SAFETY: an all-zero timespec is valid and writable; an unknown clock id is an error, not UB.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// `getrusage(who)`, or `None` when the OS refuses.
fn rusage(who: libc::c_int) -> Option<libc::rusage> {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for getrusage to fill.
    (unsafe { libc::getrusage(who, &mut usage) } == 0).then_some(usage)
}

/// CPU time of this process's ended and waited-for children, which its own CPU clock leaves out.
pub fn children_cpu_time() -> Duration {
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    let usage = rusage(libc::RUSAGE_CHILDREN);
    usage.map_or(Duration::ZERO, |u| time(u.ru_utime) + time(u.ru_stime))
}

/// The calling thread's CPU time and OS context switches so far. A context switch is the OS taking
/// a thread off its CPU: voluntarily when it blocks (a read, a lock, a sleep), involuntarily when
/// its time slice is up; section 1.3's "cooperative multitasking needs none" is about these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ThreadUsage {
    /// CPU time (user + system).
    pub cpu: Duration,
    /// Voluntary plus involuntary context switches (Linux only; 0 elsewhere).
    pub context_switches: u64,
}

impl ThreadUsage {
    /// Reads both for the calling thread.
    pub fn now() -> Self {
        #[cfg(target_os = "linux")]
        let switches = rusage(libc::RUSAGE_THREAD).map(|u| u.ru_nvcsw + u.ru_nivcsw);
        #[cfg(not(target_os = "linux"))]
        let switches: Option<libc::c_long> = None;
        Self {
            // Not getrusage's CPU time: it counts in microseconds; the thread clock is finer.
            cpu: thread_cpu_time(),
            context_switches: switches.unwrap_or(0) as u64,
        }
    }
}

/// The OS id of the calling thread: Linux's TID (as `ps -L` shows it), the `pthread_t` elsewhere.
pub fn os_thread_id() -> u64 {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions and cannot fail.
    return (unsafe { libc::gettid() }) as u64;
    #[cfg(not(target_os = "linux"))]
    // SAFETY: pthread_self has no preconditions and cannot fail.
    return (unsafe { libc::pthread_self() }) as u64;
}

/// The most resident memory this process has used so far, in KiB: Linux's `VmHWM`, its own alone;
/// `getrusage`'s `ru_maxrss` (elsewhere) is inherited across `exec`, so a child would report a
/// big parent's peak.
pub fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let vm_hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    if let Some(kb) = vm_hwm.and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse().ok()) {
        return kb;
    }
    // Linux reports KiB; macOS reports bytes.
    let unit = if cfg!(target_os = "macos") { 1024 } else { 1 };
    rusage(libc::RUSAGE_SELF).map_or(0, |u| u.ru_maxrss.max(0) as u64 / unit)
}

/// The one duration format of every demo: `850.0 ms`, `1.25 s`, `12 µs`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 0.001 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

/// A duration in milliseconds, the unit of every `*_ms` field in the results.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// [`human`] for a number of milliseconds, as the results carry them (`wall_ms`).
pub fn human_ms(ms: f64) -> String {
    human(Duration::from_secs_f64(ms.max(0.0) / 1e3))
}
