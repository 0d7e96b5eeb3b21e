//! Wall time and CPU time, side by side (sections 1.1 and 1.2).
//!
//! The book times its coroutines with an `async_timed` decorator that prints "starting" and
//! "finished ... in N s". [`timed`] and [`timed_async`] are that decorator in Rust. Next to the wall
//! clock we read the *process CPU time* (user + system), because the difference between the two is
//! the whole lesson of section 1.2: I/O-bound work spends wall time without spending CPU time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Measures wall time and process CPU time from the moment it was started.
///
/// ```
/// use shared::timing::Stopwatch;
/// let watch = Stopwatch::start();
/// std::thread::sleep(std::time::Duration::from_millis(5));
/// assert!(watch.elapsed() >= std::time::Duration::from_millis(5));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    started: Instant,
    cpu_at_start: Duration,
}

impl Stopwatch {
    /// Starts measuring now.
    ///
    /// ```
    /// let watch = shared::timing::Stopwatch::start();
    /// assert!(watch.elapsed() < std::time::Duration::from_secs(60));
    /// ```
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
            cpu_at_start: process_cpu_time(),
        }
    }

    /// The instant this stopwatch was started.
    ///
    /// ```
    /// let watch = shared::timing::Stopwatch::start();
    /// assert!(watch.started_at() <= std::time::Instant::now());
    /// ```
    pub fn started_at(&self) -> Instant {
        self.started
    }

    /// Wall-clock time since the start.
    ///
    /// ```
    /// let watch = shared::timing::Stopwatch::start();
    /// let first = watch.elapsed();
    /// assert!(watch.elapsed() >= first);
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// CPU time (user + system, all threads of this process) spent since the start.
    ///
    /// ```
    /// let watch = shared::timing::Stopwatch::start();
    /// let _busy: u64 = (0..1_000_000u64).map(std::hint::black_box).sum();
    /// let _ = watch.cpu_elapsed(); // grows with work, not with sleeping
    /// ```
    pub fn cpu_elapsed(&self) -> Duration {
        process_cpu_time().saturating_sub(self.cpu_at_start)
    }

    /// Both readings at once, as a [`Usage`].
    ///
    /// ```
    /// let watch = shared::timing::Stopwatch::start();
    /// let usage = watch.usage();
    /// assert!(usage.cpu_per_wall() >= 0.0);
    /// ```
    pub fn usage(&self) -> Usage {
        // Read the CPU clock first: reading the wall clock is cheaper, so the pair stays honest.
        let cpu = self.cpu_elapsed();
        Usage {
            wall: self.elapsed(),
            cpu,
        }
    }
}

/// Wall time and CPU time of one piece of work.
///
/// ```
/// use std::time::Duration;
/// let usage = shared::timing::Usage { wall: Duration::from_millis(100), cpu: Duration::from_millis(5) };
/// assert!((usage.cpu_per_wall() - 0.05).abs() < 1e-9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Time on the wall clock.
    pub wall: Duration,
    /// CPU time of the whole process (user + system) over the same interval.
    pub cpu: Duration,
}

impl Usage {
    /// CPU time divided by wall time: near 0 for waiting, near 1 for one busy core, up to the
    /// number of cores for parallel work. 0 when no wall time passed.
    ///
    /// ```
    /// assert_eq!(shared::timing::Usage::default().cpu_per_wall(), 0.0);
    /// ```
    pub fn cpu_per_wall(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall == 0.0 {
            0.0
        } else {
            self.cpu.as_secs_f64() / wall
        }
    }
}

/// Runs `work`, measures it and returns its value with its [`Usage`], printing nothing.
///
/// ```
/// let (sum, usage) = shared::timing::measure(|| (1..=10).sum::<u32>());
/// assert_eq!(sum, 55);
/// assert!(usage.cpu_per_wall() >= 0.0);
/// ```
pub fn measure<T>(work: impl FnOnce() -> T) -> (T, Usage) {
    let watch = Stopwatch::start();
    let value = work();
    (value, watch.usage())
}

/// Awaits `work`, measures it and returns its value with its [`Usage`], printing nothing.
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// let (value, usage) = shared::timing::measure_async(async { 7 }).await;
/// assert_eq!(value, 7);
/// # let _ = usage;
/// # });
/// ```
pub async fn measure_async<T>(work: impl Future<Output = T>) -> (T, Usage) {
    let watch = Stopwatch::start();
    let value = work.await;
    (value, watch.usage())
}

/// The book's timing decorator for plain functions: prints `starting <label>`, runs `work`, prints
/// `finished <label> in 1.0012 s`, and returns the value and the wall time it took.
///
/// The two lines go to standard error, so a demo's `--json` output on standard out stays clean.
///
/// ```
/// let (value, took) = shared::timing::timed("add", || 2 + 2);
/// assert_eq!(value, 4);
/// assert!(took < std::time::Duration::from_secs(5));
/// ```
pub fn timed<T>(label: &str, work: impl FnOnce() -> T) -> (T, Duration) {
    eprintln!("starting {label}");
    let watch = Stopwatch::start();
    let value = work();
    let took = watch.elapsed();
    eprintln!("finished {label} in {:.4} s", took.as_secs_f64());
    (value, took)
}

/// The book's `async_timed` decorator: like [`timed`], for a future.
///
/// ```
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # rt.block_on(async {
/// use std::time::Duration;
/// let (value, took) = shared::timing::timed_async("nap", async {
///     tokio::time::sleep(Duration::from_millis(10)).await;
///     "rested"
/// })
/// .await;
/// assert_eq!(value, "rested");
/// assert!(took >= Duration::from_millis(10));
/// # });
/// ```
pub async fn timed_async<T>(label: &str, work: impl Future<Output = T>) -> (T, Duration) {
    eprintln!("starting {label}");
    let watch = Stopwatch::start();
    let value = work.await;
    let took = watch.elapsed();
    eprintln!("finished {label} in {:.4} s", took.as_secs_f64());
    (value, took)
}

/// CPU time (user + system) used so far by every thread of this process.
///
/// ```
/// let before = shared::timing::process_cpu_time();
/// let _busy: u64 = (0..2_000_000u64).map(std::hint::black_box).sum();
/// assert!(shared::timing::process_cpu_time() >= before);
/// ```
pub fn process_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time (user + system) used so far by the calling thread only.
///
/// ```
/// let before = shared::timing::thread_cpu_time();
/// let _busy: u64 = (0..2_000_000u64).map(std::hint::black_box).sum();
/// assert!(shared::timing::thread_cpu_time() >= before);
/// ```
pub fn thread_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec and both clock ids exist on every Unix we build for.
    let status = unsafe { libc::clock_gettime(clock, &mut now) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The most resident memory this process has used so far, in KiB.
///
/// On Linux this is `VmHWM` from `/proc/self/status`, which belongs to this process alone.
/// `getrusage`'s `ru_maxrss` (the fallback elsewhere) is inherited across `exec`, so a child
/// process re-executed from a big parent would report the parent's peak.
///
/// ```
/// assert!(shared::timing::peak_rss_kb() > 0);
/// ```
pub fn peak_rss_kb() -> u64 {
    #[cfg(target_os = "linux")]
    if let Some(kb) = linux_high_water_mark_kb() {
        return kb;
    }
    rusage_max_rss_kb()
}

#[cfg(target_os = "linux")]
fn linux_high_water_mark_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?;
    value.trim().trim_end_matches("kB").trim().parse().ok()
}

fn rusage_max_rss_kb() -> u64 {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for getrusage to fill.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if status != 0 {
        return 0;
    }
    // Linux reports KiB; macOS reports bytes.
    let raw = usage.ru_maxrss.max(0) as u64;
    if cfg!(target_os = "macos") {
        raw / 1024
    } else {
        raw
    }
}

/// Formats a duration the way every demo prints it: `850 ms`, `1.25 s`, `12 µs`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(shared::timing::human(Duration::from_millis(850)), "850.0 ms");
/// assert_eq!(shared::timing::human(Duration::from_millis(1250)), "1.25 s");
/// assert_eq!(shared::timing::human(Duration::from_micros(12)), "12 µs");
/// ```
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
