//! Section 1.5: the same CPU-bound and I/O-bound work run every way the notes compare: one after
//! the other, in two threads under the GIL, in two threads without it, in two processes (each
//! with its own GIL, like `multiprocessing`), with rayon, and blocking requests with and without
//! threads.
//!
//! Every run returns a [`RunOutcome`]: what it computed, the wall and CPU time, the recorded
//! spans and the lock's hand-offs.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::Url;
use shared::legacy::{Span, SpanKind, SpanRecorder};
use shared::timing::{Usage, measure};

use super::lock::Gil;
use crate::child::{ChildJob, SelfExe, children_cpu_time};

/// The bytecode each I/O-bound task runs before and after its request (handling the answer):
/// small next to the request, but enough to need the lock.
pub const IO_TASK_FIB: u32 = 15;

/// What one run produced.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    /// Wall and CPU time of the whole run.
    pub usage: Usage,
    /// The fib values (CPU-bound runs) or HTTP status codes (I/O-bound runs).
    pub values: Vec<u64>,
    /// Holding the lock (`Cpu`), waiting for it (`WaitLock`), waiting on I/O (`WaitIo`).
    pub spans: Vec<Span>,
    /// How many times the lock changed threads (0 without a lock).
    pub handoffs: u64,
    /// How many times a waiting thread asked the holder to let go.
    pub drop_requests: u64,
    /// The most requests the embedded server saw at once (I/O runs against it only).
    pub max_in_flight: Option<u64>,
}

impl RunOutcome {
    fn from_gil(gil: &Gil, values: Vec<u64>, usage: Usage) -> Self {
        Self {
            usage,
            values,
            spans: gil.recorder().spans(),
            handoffs: gil.handoffs(),
            drop_requests: gil.drop_requests(),
            max_in_flight: None,
        }
    }

    /// Total time all threads spent waiting for the lock.
    ///
    /// ```
    /// assert_eq!(ch01_gil_analogy::gil::RunOutcome::default().lock_wait(), std::time::Duration::ZERO);
    /// ```
    pub fn lock_wait(&self) -> Duration {
        self.spans
            .iter()
            .filter(|span| span.kind == SpanKind::WaitLock)
            .map(Span::duration)
            .sum()
    }
}

/// Two fibs, one after the other, on one thread holding the lock.
///
/// ```
/// let run = ch01_gil_analogy::gil::sequential(10, std::time::Duration::from_millis(5));
/// assert_eq!(run.values, [34, 34]);
/// ```
pub fn sequential(n: u32, switch_interval: Duration) -> RunOutcome {
    let gil = Gil::new(switch_interval);
    let (values, usage) = measure(|| {
        ["fib A", "fib B"]
            .into_iter()
            .map(|task| gil.attach(task).run_fib(n))
            .collect()
    });
    RunOutcome::from_gil(&gil, values, usage)
}

/// Two fibs in two threads sharing one interpreter: under the lock if `gil` is enabled,
/// truly in parallel if it is [`Gil::disabled`].
///
/// ```
/// use ch01_gil_analogy::gil::{Gil, two_threads};
/// let run = two_threads(12, Gil::new(std::time::Duration::from_millis(5)));
/// assert_eq!(run.values, [89, 89]);
/// ```
pub fn two_threads(n: u32, gil: Gil) -> RunOutcome {
    // Both threads start together, so neither gets a head start while the other is created.
    let start_line = Barrier::new(2);
    let (values, usage) = measure(|| {
        std::thread::scope(|scope| {
            let handles: Vec<_> = ["thread A", "thread B"]
                .into_iter()
                .map(|name| {
                    let (gil, start_line) = (&gil, &start_line);
                    std::thread::Builder::new()
                        .name(name.into())
                        .spawn_scoped(scope, move || {
                            start_line.wait();
                            gil.attach(name).run_fib(n)
                        })
                        .expect("the OS refused to start a thread")
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a fib thread panicked"))
                .collect()
        })
    });
    RunOutcome::from_gil(&gil, values, usage)
}

/// Two fibs with `rayon::join`: rayon's worker threads, no lock.
///
/// ```
/// assert_eq!(ch01_gil_analogy::gil::rayon_join(8).values, [13, 13]);
/// ```
pub fn rayon_join(n: u32) -> RunOutcome {
    let gil = Gil::disabled();
    let ((a, b), usage) = measure(|| {
        rayon::join(
            || gil.attach("rayon A").run_fib(n),
            || gil.attach("rayon B").run_fib(n),
        )
    });
    RunOutcome::from_gil(&gil, vec![a, b], usage)
}

/// Two fibs in two child processes, each with its own interpreter and its own lock
/// (`multiprocessing`). The children's spans are merged into the outcome.
pub fn two_processes(
    n: u32,
    switch_interval: Duration,
    exe: &SelfExe,
) -> anyhow::Result<RunOutcome> {
    let recorder = SpanRecorder::new();
    let job = ChildJob::Fib { n, switch_interval };
    let children_cpu_before = children_cpu_time();
    let (reports, mut usage) = measure(|| -> anyhow::Result<_> {
        let children = [exe.spawn(job)?, exe.spawn(job)?];
        children
            .into_iter()
            .map(|child| child.wait(&recorder))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    let reports = reports.context("the two fib processes failed")?;
    usage.cpu += children_cpu_time().saturating_sub(children_cpu_before);
    Ok(RunOutcome {
        usage,
        values: reports.iter().map(|report| report.value).collect(),
        spans: recorder.spans(),
        ..RunOutcome::default()
    })
}

/// One I/O-bound task: a little bytecode, a blocking request with the lock released, a little
/// bytecode again. Returns the HTTP status.
fn io_task(
    gil: &Gil,
    name: &str,
    client: &reqwest::blocking::Client,
    url: &Url,
) -> anyhow::Result<u64> {
    let mut thread = gil.attach(name);
    thread.run_fib(IO_TASK_FIB);
    let status = thread.blocking_io(|| shared::workloads::fetch_blocking(client, url))?;
    thread.run_fib(IO_TASK_FIB);
    Ok(u64::from(status))
}

/// `requests` blocking requests to `url` one after the other, on one thread.
pub fn io_sequential(
    requests: u64,
    url: &Url,
    switch_interval: Duration,
) -> anyhow::Result<RunOutcome> {
    let client = shared::workloads::blocking_http_client(url)?;
    let gil = Gil::new(switch_interval);
    let (statuses, usage) = measure(|| {
        (1..=requests)
            .map(|i| io_task(&gil, &format!("request {i}"), &client, url))
            .collect::<anyhow::Result<Vec<_>>>()
    });
    Ok(RunOutcome::from_gil(&gil, statuses?, usage))
}

/// `requests` blocking requests to `url`, one thread each, all under one GIL: each thread
/// releases the lock while it waits, so the waits overlap.
pub fn io_threads(
    requests: u64,
    url: &Url,
    switch_interval: Duration,
) -> anyhow::Result<RunOutcome> {
    let client = shared::workloads::blocking_http_client(url)?;
    let gil = Gil::new(switch_interval);
    let (statuses, usage) = measure(|| {
        std::thread::scope(|scope| {
            let handles = (1..=requests)
                .map(|i| {
                    let (gil, client) = (&gil, &client);
                    let name = format!("request {i}");
                    std::thread::Builder::new()
                        .name(name.clone())
                        .spawn_scoped(scope, move || io_task(gil, &name, client, url))
                        .context("the OS refused to start a thread")
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            handles
                .into_iter()
                .map(|handle| handle.join().expect("a request thread panicked"))
                .collect::<anyhow::Result<Vec<_>>>()
        })
    });
    Ok(RunOutcome::from_gil(&gil, statuses?, usage))
}

/// Picks the largest `n` for which one model-interpreter `fib(n)` takes at most `budget` on this
/// machine and this build (debug builds are much slower than `--release`).
///
/// ```
/// let n = ch01_gil_analogy::gil::calibrate_fib(std::time::Duration::from_millis(5));
/// assert!((10..=40).contains(&n));
/// ```
pub fn calibrate_fib(budget: Duration) -> u32 {
    calibrate(budget).n
}

/// The result of [`calibrate`]: the chosen `n` and how long one `fib(n)` should take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// The chosen argument of fib.
    pub n: u32,
    /// One `fib(n)`'s expected time, extrapolated from a measured smaller fib.
    pub estimate: Duration,
}

/// Grows `n` while a single run stays short (about 20 ms), then extrapolates from that measured
/// run: each step up in `n` costs about 1.618 times more (the golden ratio, as fib itself grows).
///
/// ```
/// let calibration = ch01_gil_analogy::gil::calibrate(std::time::Duration::from_millis(5));
/// assert!(calibration.estimate <= std::time::Duration::from_millis(5) || calibration.n == 10);
/// ```
pub fn calibrate(budget: Duration) -> Calibration {
    const GROWTH: f64 = 1.618;
    let gil = Gil::disabled();
    let mut n = 10;
    let mut took = Duration::ZERO;
    while n < 40 {
        let started = Instant::now();
        gil.attach("calibration").run_fib(n);
        took = started.elapsed();
        if took >= Duration::from_millis(20) || took >= budget {
            break;
        }
        n += 2;
    }
    let mut estimate = took.as_secs_f64().max(1e-6);
    while n < 40 && estimate * GROWTH <= budget.as_secs_f64() {
        estimate *= GROWTH;
        n += 1;
    }
    while n > 10 && estimate > budget.as_secs_f64() {
        estimate /= GROWTH;
        n -= 1;
    }
    Calibration {
        n,
        estimate: Duration::from_secs_f64(estimate),
    }
}
