//! Section 1.5: the global interpreter lock, switched on and off.
//!
//! The same bytecode (the book's recursive fib) runs one fib after the other, in two threads
//! under one GIL, in two threads without it, in two processes with a GIL each, and with rayon.
//! Then blocking requests run one after the other and in threads under the GIL, which each thread
//! releases while it waits. When `python3` is on `PATH`, real CPython runs the same two fibs and
//! requests beside the model (`fib_threads.py`, `io_threads.py`), their spans drawn beside the
//! model's.

use std::sync::Barrier;
use std::time::Duration;

use anyhow::ensure;
use reqwest::Url;
use reqwest::blocking::Client;
use serde::{Deserialize, Serialize};
use shared::child::SelfExe;
use shared::narrate::plural;
use shared::python::{Python, Script};
use shared::timing::{children_cpu_time, human, human_ms, measure as timed, ms, ratio};
use shared::workloads::{Target, blocking_http_client, fetch_blocking};
use shared::{Narrator, Report, Span};

use crate::child::Job;
use crate::cli::{MAX_FIB, Sizes};
use crate::gil::Gil;

// ---- the lesson: the book's fib and requests, with and without threads, under one GIL ----

/// Listing 1.5: two fibs, one after the other, on one thread holding the lock.
pub fn sequential(gil: &Gil, n: u32) -> [u64; 2] {
    let mut main = gil.attach("main");
    [main.run_fib(n), main.run_fib(n)]
}

/// Listing 1.6: two fibs in two threads sharing one interpreter: under the lock if `gil` is
/// enabled, truly in parallel if it is [`Gil::disabled`].
pub fn two_threads(gil: &Gil, n: u32) -> [u64; 2] {
    // Both threads start together, so neither gets a head start while the other is created.
    let start_line = &Barrier::new(2);
    std::thread::scope(|scope| {
        let [a, b] = ["A", "B"].map(|name| {
            scope.spawn(move || {
                start_line.wait();
                gil.attach(name).run_fib(n)
            })
        });
        [a, b].map(|thread| thread.join().expect("a fib thread panicked"))
    })
}

/// One request as a Python thread makes it: a little bytecode, the blocking call with the lock
/// released, a little bytecode again.
pub fn request(gil: &Gil, name: String, client: &Client, url: &Url) -> anyhow::Result<u16> {
    let mut thread = gil.attach(name);
    thread.run_fib(IO_TASK_FIB);
    let status = thread.blocking_io(|| fetch_blocking(client, url))?;
    thread.run_fib(IO_TASK_FIB);
    Ok(status)
}

/// Listing 1.7: `n` blocking requests, one after the other, on one thread.
pub fn io_sequential(gil: &Gil, client: &Client, url: &Url, n: u64) -> anyhow::Result<Vec<u16>> {
    (1..=n)
        .map(|i| request(gil, format!("request {i}"), client, url))
        .collect()
}

/// Listing 1.8: `n` blocking requests, one thread each, all under one GIL. Each thread releases
/// the lock while it waits, so the waits overlap.
pub fn io_threads(gil: &Gil, client: &Client, url: &Url, n: u64) -> anyhow::Result<Vec<u16>> {
    std::thread::scope(|scope| {
        let threads: Vec<_> = (1..=n)
            .map(|i| scope.spawn(move || request(gil, format!("request {i}"), client, url)))
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("a request thread panicked"))
            .collect()
    })
}

// ---- measuring it ----

// The same work in child processes (`multiprocessing`), each with its own interpreter and
// lock, and with rayon: the comparisons the lesson's threads are measured against.

/// `multiprocessing`: two fibs in two children, each with its own interpreter and lock.
pub fn two_processes(exe: &SelfExe, job: Job) -> anyhow::Result<(Vec<u64>, Vec<Span>)> {
    let children = [exe.spawn(&job)?, exe.spawn(&job)?];
    let [a, b] = children.map(|child| child.wait::<u64>());
    let (a, b) = (a?, b?);
    Ok((vec![a.result, b.result], [a.spans, b.spans].concat()))
}

/// Two fibs with `rayon::join`: rayon's worker threads, no lock.
pub fn rayon_join(n: u32) -> [u64; 2] {
    let gil = Gil::disabled();
    let fib = |name: &str| gil.attach(name).run_fib(n);
    rayon::join(|| fib("rayon A"), || fib("rayon B")).into()
}

/// The bytecode a request runs before and after it: small next to the wait, but it needs the lock.
pub const IO_TASK_FIB: u32 = 15;

/// `multiprocessing` for I/O: `n` children each make one [`request`] to our server on `port`.
pub fn io_processes(exe: &SelfExe, port: u16, delay_ms: u64, n: u64) -> anyhow::Result<Vec<u16>> {
    let job = Job::Fetch { port, delay_ms };
    let children = (0..n).map(|_| exe.spawn(&job));
    let children = children.collect::<anyhow::Result<Vec<_>>>()?;
    children.into_iter().map(|c| Ok(c.wait()?.result)).collect()
}

/// The demo's name on the command line and in its report.
pub const DEMO: &str = "gil";
const SECTION: &str = "1.5";
/// The model's fib rows, then its request rows (`io_processes` only with the embedded server).
const FIB_WAYS: [&str; 5] = [
    "sequential",
    "threads_with_gil",
    "threads_no_gil",
    "processes",
    "rayon",
];
const IO_WAYS: [&str; 3] = ["io_sequential", "io_threads_with_gil", "io_processes"];
/// With no `--fib`, one fib(n) is calibrated to take about this long, so the sequential run of
/// two takes about a second in a debug build and in `--release` alike.
const FIB_BUDGET: Duration = Duration::from_millis(500);
/// CPU-seconds per second from which two CPU-bound runs count as having had two cores.
const IDLE_CORES: f64 = 1.5;
/// CPU-seconds per second below which the sequential run did not have a core to itself.
const BUSY_BASELINE: f64 = 0.8;

/// One run of the demo, measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GilRun {
    /// `sequential`, `threads_with_gil`, ..., `cpython_io_threads`.
    pub name: &'static str,
    /// Wall time of the run.
    pub wall_ms: f64,
    /// CPU time of the run, child processes included.
    pub cpu_ms: f64,
    /// Wall time / the wall time of its baseline (`sequential`, `io_sequential`, ...).
    pub ratio: f64,
    /// fib's argument (on the baseline rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fib_n: Option<u32>,
    /// How many times the lock went from one thread to another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoffs: Option<u64>,
    /// How many times a waiting thread asked the holder to let go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_requests: Option<u64>,
    /// Time all threads together spent waiting for the lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_wait_ms: Option<f64>,
    /// Requests made (request rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// The most requests the embedded server saw at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
    /// CPU-seconds per second of wall time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_wall: Option<f64>,
    /// Whether the run got two cores' worth of CPU: without them, parallel cannot beat sequential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_cores: Option<bool>,
    /// What a reader should know about this row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The values computed (fib values or HTTP statuses).
    #[serde(skip)]
    pub values: Vec<u64>,
    /// The `thread` spans: holding the lock, waiting for it, waiting on I/O.
    #[serde(skip)]
    pub spans: Vec<Span>,
}

/// The spans during which a thread held the lock (ran bytecode).
pub fn holding(spans: &[Span]) -> Vec<&Span> {
    let held = |s: &&Span| s.name == "thread" && s.waiting_for.is_none();
    spans.iter().filter(held).collect()
}

/// How many times the lock went to another thread: consecutive holding spans, other labels.
pub fn handoffs(spans: &[Span]) -> u64 {
    let held = holding(spans);
    held.windows(2).filter(|w| w[0].label != w[1].label).count() as u64
}

/// Every pair of lock-holding spans from different threads that overlaps in time.
pub fn overlapping<'a>(held: &[&'a Span]) -> Vec<(&'a Span, &'a Span)> {
    let pairs = held.iter().enumerate();
    let pairs = pairs.flat_map(|(i, a)| held[i + 1..].iter().map(move |b| (*a, *b)));
    pairs
        .filter(|(a, b)| a.label != b.label && a.overlaps(b))
        .collect()
}

/// Every way with fib(`sizes.fib`, or calibrated) and `sizes.requests` requests, then CPython:
/// the model's fib rows, its request rows, CPython's rows, and which CPython ran (if one did).
pub fn measure(sizes: &Sizes) -> anyhow::Result<(Vec<GilRun>, Option<Cpython>)> {
    let exe = &SelfExe::current()?;
    // First, so that an unreachable --url is reported at once, not after the fib runs.
    let target = &Target::new(sizes.url.as_ref(), sizes.delay)?;
    let n = sizes.fib.unwrap_or_else(|| calibrate(FIB_BUDGET).0);
    let (interval, requests) = (Duration::from_millis(sizes.switch_interval), sizes.requests);
    let gil = Gil::new(interval);
    let mut rows = timed_runs(&FIB_WAYS, |name, row| {
        (row.values, row.spans) = match name {
            "sequential" => (sequential(&gil, n).to_vec(), vec![]),
            "threads_with_gil" => (two_threads(&gil, n).to_vec(), vec![]),
            "threads_no_gil" => (two_threads(&Gil::disabled(), n).to_vec(), vec![]),
            "rayon" => (rayon_join(n).to_vec(), vec![]),
            _ => two_processes(exe, Job::Fib { n, cpu: None })?,
        };
        Ok(())
    })?;
    let expected = shared::workloads::fib(n);
    for run in &mut rows {
        let (name, values) = (run.name, &run.values);
        let right = values == &[expected; 2];
        ensure!(right, "{name}: {values:?}, not fib({n}) = {expected}");
        run.cpu_per_wall = Some(ratio(run.cpu_ms, run.wall_ms));
        match name {
            "sequential" => run.fib_n = Some(n),
            "threads_with_gil" => {
                run.handoffs = Some(handoffs(&run.spans));
                // Only this run has two threads under `gil`: the sequential one never asks.
                run.drop_requests = Some(gil.drop_requests());
                let waits = run.spans.iter();
                let waits = waits.filter(|s| s.waiting_for.as_deref() == Some("lock"));
                run.lock_wait_ms = Some(ms(waits.map(Span::wall).sum()));
            }
            _ => run.idle_cores = run.cpu_per_wall.map(|cores| cores >= IDLE_CORES),
        }
    }
    // Child processes reach only the embedded server, by its port.
    let (client, url) = (blocking_http_client(target.url())?, target.url());
    let port = target.server().map(|server| server.addr().port());
    let io_ways = &IO_WAYS[..if port.is_some() { 3 } else { 2 }];
    let mut io = timed_runs(io_ways, |name, row| {
        target.reset();
        let statuses = match (name, port) {
            ("io_sequential", _) => io_sequential(&gil, &client, url, requests),
            ("io_processes", Some(port)) => io_processes(exe, port, sizes.delay, requests),
            _ => io_threads(&gil, &client, url, requests),
        };
        row.values = statuses?.into_iter().map(u64::from).collect();
        (row.requests, row.max_in_flight) = (Some(requests), target.max_in_flight());
        Ok(())
    })?;
    let threads = &mut io[1];
    threads.handoffs = Some(handoffs(&threads.spans));
    rows.extend(io);
    // Sized to take about as long as the model's sequential run: half of it per fib.
    let budget = Duration::from_secs_f64(rows[0].wall_ms / 2e3);
    let cpython = shared::narrate::python().map(|python| {
        let record = shared::narrate::record;
        record("CPython", "thread", None, || {
            measure_cpython(&python, budget, target, requests)
        })
        .0
    });
    let (cpython, python_rows) = cpython.transpose()?.unzip();
    rows.extend(python_rows.into_iter().flatten());
    Ok((rows, cpython))
}

/// Runs each way, recorded and timed (child processes' CPU included), each row's ratio to the
/// first's wall time. `way` fills in the row's values and any spans of its children.
fn timed_runs(
    ways: &[&'static str],
    mut way: impl FnMut(&'static str, &mut GilRun) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<GilRun>> {
    let mut runs: Vec<GilRun> = Vec::new();
    for &name in ways {
        let mut run = GilRun::default();
        let ((done, usage), spans) = shared::narrate::record(name, "thread", None, || {
            let children_before = children_cpu_time();
            let (done, mut usage) = timed(|| way(name, &mut run));
            usage.cpu += children_cpu_time().saturating_sub(children_before);
            (done, usage)
        });
        done?;
        (run.name, run.wall_ms, run.cpu_ms) = (name, ms(usage.wall), ms(usage.cpu));
        let baseline = runs.first().map_or(run.wall_ms, |first| first.wall_ms);
        run.ratio = ratio(run.wall_ms, baseline);
        run.spans = [spans, run.spans].concat();
        runs.push(run);
    }
    Ok(runs)
}

/// Picks the largest `n` whose model-interpreter `fib(n)` should take at most `budget` on this
/// machine and build, and how long: grows `n` while one run stays short (about 20 ms), then
/// extrapolates, each step costing about 1.618 times more (the golden ratio, as fib grows).
pub fn calibrate(budget: Duration) -> (u32, Duration) {
    const GROWTH: f64 = 1.618;
    let gil = Gil::disabled();
    let (mut n, mut took) = (10, Duration::ZERO);
    while n < MAX_FIB {
        took = timed(|| gil.attach("calibration").run_fib(n)).1.wall;
        if took >= Duration::from_millis(20) || took >= budget {
            break;
        }
        n += 2;
    }
    let mut estimate = took.as_secs_f64().max(1e-6);
    while n < MAX_FIB && estimate * GROWTH <= budget.as_secs_f64() {
        estimate *= GROWTH;
        n += 1;
    }
    while n > 10 && estimate > budget.as_secs_f64() {
        estimate /= GROWTH;
        n -= 1;
    }
    (n, Duration::from_secs_f64(estimate))
}

/// The CPU-bound program.
pub const FIB_THREADS: Script = Script::new("fib_threads.py", include_str!("fib_threads.py"));

/// The I/O-bound program: `n` blocking requests, one after the other or in threads.
pub const IO_THREADS: Script = Script::new("io_threads.py", include_str!("io_threads.py"));

/// Which CPython ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpython {
    /// Its version, e.g. `3.11.7`.
    pub version: String,
    /// `sys._is_gil_enabled()` where it exists (3.13 and later); true before 3.13.
    pub gil_enabled: bool,
}

/// What `fib_threads.py` answers: (wall ms, CPU ms) of each run.
#[derive(Deserialize)]
struct Answer {
    gil_enabled: bool,
    fib_n: u32,
    sequential: (f64, f64),
    threads: (f64, f64),
}

/// What `io_threads.py` answers.
#[derive(Deserialize)]
struct IoAnswer {
    wall_ms: f64,
    cpu_ms: f64,
    statuses: Vec<u16>,
}

/// Real CPython: `fib_threads.py` with `budget` per fib, then `n` blocking requests to `target`
/// one after the other and in one thread each, with the server's count in flight.
pub fn measure_cpython(
    python: &Python,
    budget: Duration,
    target: &Target,
    n: u64,
) -> anyhow::Result<(Cpython, Vec<GilRun>)> {
    let finished = python.run::<Answer>(&FIB_THREADS, &[format!("{:.3}", budget.as_secs_f64())])?;
    let answer = finished.result;
    let row = |name, (wall_ms, cpu_ms): (f64, f64), baseline_ms| GilRun {
        name,
        wall_ms,
        cpu_ms,
        ratio: ratio(wall_ms, baseline_ms),
        ..GilRun::default()
    };
    let mut sequential = row("cpython_sequential", answer.sequential, answer.sequential.0);
    sequential.fib_n = Some(answer.fib_n);
    let mut threads = row("cpython_threads", answer.threads, answer.sequential.0);
    let main = |span: &Span| span.label == "thread cpython main";
    (sequential.spans, threads.spans) = finished.spans.into_iter().partition(main);
    let free = "this Python is free-threaded and runs without its GIL: the real threads_no_gil";
    threads.note = (!answer.gil_enabled).then(|| free.into());
    let mut rows = vec![sequential, threads];
    for name in ["cpython_io_sequential", "cpython_io_threads"] {
        target.reset();
        let way = name.trim_start_matches("cpython_io_").to_string();
        let args = [target.url().to_string(), n.to_string(), way];
        let finished = python.run::<IoAnswer>(&IO_THREADS, &args)?;
        let io = finished.result;
        let all_ok = io.statuses.len() as u64 == n && io.statuses.iter().all(|s| *s == 200);
        ensure!(all_ok, "CPython's requests answered {:?}", io.statuses);
        let baseline = rows.get(2).map_or(io.wall_ms, |first| first.wall_ms);
        rows.push(GilRun {
            requests: Some(n),
            max_in_flight: target.max_in_flight(),
            values: io.statuses.into_iter().map(u64::from).collect(),
            spans: finished.spans,
            ..row(name, (io.wall_ms, io.cpu_ms), baseline)
        });
    }
    let which = Cpython {
        version: python.version.clone(),
        gil_enabled: answer.gil_enabled,
    };
    Ok((which, rows))
}

// ---- narrating it ----

/// The first `window` of a run: the spans that closed by then. A whole run has hundreds of
/// 5 ms slices, too thin to draw; the first dozen show the pattern.
fn first(spans: &[Span], window: Duration) -> Vec<Span> {
    let start = spans.iter().map(|s| s.opened).min().unwrap_or_default();
    let shown = spans.iter().filter(|s| s.closed - start <= window);
    shown.cloned().collect()
}

/// ", N of them at the server at once", when the server is ours and counted.
fn at_once(run: &GilRun) -> String {
    let at_once = |m| format!(", {m} of them at the server at once");
    run.max_in_flight.map(at_once).unwrap_or_default()
}

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "Understanding the global interpreter lock",
        "Under one GIL, two CPU-bound threads are no faster than one after the other; two \
         processes (one GIL each), lock-free threads and rayon are. Threads doing blocking I/O \
         speed up even under the GIL, because a thread releases it while it waits.",
    );
    let mut sizes = sizes.clone();
    let n = *sizes.fib.get_or_insert_with(|| {
        let (n, estimate) = calibrate(FIB_BUDGET);
        narrator.say(format!(
            "Calibrated: one fib({n}) should take about {} on the model interpreter in this \
             build (choose with --fib N; a release build picks a larger N).",
            human(estimate)
        ));
        n
    });
    let interval = Duration::from_millis(sizes.switch_interval);
    narrator.say(format!(
        "Each run computes fib({n}) twice by executing bytecode; the switch interval is {}.\n\n",
        human(interval)
    ));
    let (rows, cpython) = measure(&sizes)?;
    narrator.report(&Report::new(DEMO, SECTION, rows.iter().collect()));
    narrator.say(
        "ratio = wall time / that of sequential (fib rows) or io_sequential (requests); \
         CPython's rows, to its own\n\n",
    );
    let find = |name: &str| rows.iter().find(|run| run.name == name);
    let get = |name: &str| find(name).cloned().unwrap_or_default();
    let zoom = interval * 12;
    // Each timeline and its title; the titles say what each run got: at once on two cores, or
    // only open at once.
    let lanes = "threads_with_gil: the lock passes back and forth
        threads_no_gil: {cores}
        processes: one GIL each, {cores}
        io_threads_with_gil: the lock is released during every request
        cpython_threads: two CPython threads, one GIL
        cpython_io_threads: CPython's GIL is released during every request";
    for (name, what) in lanes.lines().filter_map(|l| l.trim().split_once(": ")) {
        let run = get(name);
        let cores = match run.idle_cores {
            Some(true) => "both run at once",
            _ => "both open at once, but without two free cores mostly waiting for a CPU",
        };
        let (window, what) = match name {
            "threads_with_gil" => (zoom, format!("the first {}: {what}", human(zoom))),
            _ => (Duration::MAX, what.replace("{cores}", cores)),
        };
        narrator.timeline(&format!("{name}: {what}"), &first(&run.spans, window));
    }

    let with_gil = get("threads_with_gil");
    let cores = with_gil.cpu_per_wall.unwrap_or(0.0);
    let mut lines = vec![format!(
        "Two threads under the GIL took {:.2}x the sequential time, using {cores:.2} \
         CPU-seconds per second ({}). The lock changed hands {} and the threads waited {} for \
         it in all: each hand-off costs a wake-up, during which no bytecode runs at all.",
        with_gil.ratio,
        one_core(cores),
        plural(with_gil.handoffs.unwrap_or(0), "time", "times"),
        human_ms(with_gil.lock_wait_ms.unwrap_or(0.0))
    )];
    let [threads, processes, rayon] = ["threads_no_gil", "processes", "rayon"].map(get);
    lines.push(format!(
        "Without the lock: threads {:.2}x, processes {:.2}x, rayon {:.2}x the sequential time. \
         A process brings its own GIL, as multiprocessing does; a free-threaded CPython \
         (3.13t, PEP 703) is what threads_no_gil models.",
        threads.ratio, processes.ratio, rayon.ratio
    ));
    let baseline = get("sequential").cpu_per_wall.unwrap_or(1.0);
    if baseline < BUSY_BASELINE {
        lines.push(format!(
            "The sequential run itself got only {baseline:.2} CPU-seconds per second (a core \
             to itself is 1.00): other programs were busy, so the ratios compare unequal shares."
        ));
    }
    let starved = [threads, processes, rayon]
        .into_iter()
        .filter(|run| run.idle_cores == Some(false));
    let starved: Vec<_> = starved.map(|run| run.name).collect();
    if !starved.is_empty() {
        lines.push(format!(
            "No two idle cores this time: {} got under {IDLE_CORES} CPU-seconds per second; \
             without a second free core, running at once cannot beat one after the other.",
            starved.join(", ")
        ));
    }
    let io_threads = get("io_threads_with_gil");
    lines.push(format!(
        "{} in threads under the GIL took {:.2}x the sequential time{}: the lock is \
         released around I/O, so the waits overlap.",
        plural(sizes.requests, "blocking request", "blocking requests"),
        io_threads.ratio,
        at_once(&io_threads)
    ));
    lines.push(match find("io_processes") {
        Some(processes) => format!(
            "In child processes, one request each, they took {:.2}x{}: processes serve \
             I/O-bound work too, each paying for its start.",
            processes.ratio,
            at_once(processes)
        ),
        None => "With --url there is no child processes' row: they reach only our server.".into(),
    });
    if let Some(python) = &cpython {
        let (threads, io_threads) = (get("cpython_threads"), get("cpython_io_threads"));
        let cores = ratio(threads.cpu_ms, threads.wall_ms);
        let used = match python.gil_enabled {
            true => format!("With its GIL on, they used {}.", one_core(cores)),
            false => "Its GIL is off (a free-threaded build, PEP 703): like threads_no_gil.".into(),
        };
        lines.push(format!(
            "CPython {}, sized to take about as long as the model's sequential run: two threads \
             took {:.2}x its sequential time ({} of wall time, {cores:.2} CPU-seconds per \
             second); the model's threads_with_gil took {:.2}x. {used}",
            python.version,
            threads.ratio,
            human_ms(threads.wall_ms),
            with_gil.ratio,
        ));
        lines.push(format!(
            "CPython's {} blocking requests in threads took {:.2}x its one-after-the-other \
             time{}: urlopen waits in a system call, outside the interpreter, with the GIL \
             released.",
            io_threads.requests.unwrap_or(0),
            io_threads.ratio,
            at_once(&io_threads)
        ));
    }
    narrator.summary(SECTION, &lines);
    Ok(())
}

/// How much CPU two threads under one lock used, at `cores` CPU-seconds per second.
fn one_core(cores: f64) -> &'static str {
    match cores <= 1.1 {
        true => "at most one core's worth",
        false => "more than one core's worth, which one lock should not allow",
    }
}
