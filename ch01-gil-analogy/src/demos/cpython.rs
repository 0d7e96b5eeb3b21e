//! Section 1.5, the model beside the real thing: CPython runs the book's fib twice, one after
//! the other and in two threads (`fib_threads.py`), sized to take about as long as the model's
//! sequential run, and the blocking requests one after the other and in threads
//! (`io_threads.py`). Their spans are drawn beside the model's.

use std::time::Duration;

use anyhow::ensure;
use serde::Deserialize;
use shared::Narrator;
use shared::python::{Python, Script};
use shared::timing::{human_ms, ratio};
use shared::workloads::Target;

use super::gil::{GilRun, GilRuns};

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

/// Runs `fib_threads.py` with `budget` per fib: `cpython_sequential` and `cpython_threads`.
pub fn measure(python: &Python, budget: Duration) -> anyhow::Result<(Cpython, Vec<GilRun>)> {
    let finished = python.run::<Answer>(&FIB_THREADS, &[format!("{:.3}", budget.as_secs_f64())])?;
    let answer = finished.result;
    let row = |name, (wall_ms, cpu_ms): (f64, f64)| GilRun {
        name,
        wall_ms,
        cpu_ms,
        ratio: ratio(wall_ms, answer.sequential.0),
        ..GilRun::default()
    };
    let mut sequential = row("cpython_sequential", answer.sequential);
    sequential.fib_n = Some(answer.fib_n);
    let mut threads = row("cpython_threads", answer.threads);
    (sequential.spans, threads.spans) = finished
        .spans
        .into_iter()
        .partition(|span| span.label == "thread cpython main");
    if !answer.gil_enabled {
        threads.note = Some(
            "this Python is free-threaded and runs without its GIL: the real threads_no_gil".into(),
        );
    }
    let which = Cpython {
        version: python.version.clone(),
        gil_enabled: answer.gil_enabled,
    };
    Ok((which, vec![sequential, threads]))
}

/// What `io_threads.py` answers.
#[derive(Deserialize)]
struct IoAnswer {
    wall_ms: f64,
    cpu_ms: f64,
    statuses: Vec<u16>,
}

/// CPython makes `n` blocking requests to `target`, one after the other
/// (`cpython_io_sequential`) and in one thread each (`cpython_io_threads`), with the server's
/// count of requests in flight when the server is ours.
pub fn measure_io(python: &Python, target: &Target, n: u64) -> anyhow::Result<Vec<GilRun>> {
    let mut rows: Vec<GilRun> = Vec::new();
    for (name, way) in [
        ("cpython_io_sequential", "sequential"),
        ("cpython_io_threads", "threads"),
    ] {
        target.reset();
        let args = [target.url().to_string(), n.to_string(), way.to_string()];
        let finished = python.run::<IoAnswer>(&IO_THREADS, &args)?;
        let answer = finished.result;
        ensure!(
            answer.statuses.len() as u64 == n && answer.statuses.iter().all(|s| *s == 200),
            "CPython's requests answered {:?}",
            answer.statuses
        );
        let baseline = rows.first().map_or(answer.wall_ms, |first| first.wall_ms);
        rows.push(GilRun {
            name,
            wall_ms: answer.wall_ms,
            cpu_ms: answer.cpu_ms,
            ratio: ratio(answer.wall_ms, baseline),
            requests: Some(n),
            max_in_flight: target.max_in_flight(),
            values: answer.statuses.into_iter().map(u64::from).collect(),
            spans: finished.spans,
            ..GilRun::default()
        });
    }
    Ok(rows)
}

/// Prints the CPython rows (or why there are none) and returns the summary's lines about them.
pub fn report(runs: &GilRuns, narrator: &Narrator) -> Vec<String> {
    let Some(python) = &runs.python else {
        return Vec::new();
    };
    let gil = if python.gil_enabled {
        "its GIL is on"
    } else {
        "its GIL is off (a free-threaded build, PEP 703)"
    };
    narrator.say(format!(
        "The same two fibs in real CPython {} ({gil}), sized to take about as long as the \
         model's sequential run, and the same blocking requests:",
        python.version
    ));
    if !narrator.json() {
        narrator.report(&shared::Report::new(
            "gil",
            "1.5",
            runs.cpython.iter().collect(),
        ));
    }
    let mut lines = Vec::new();
    if let (Some(threads), Some(model)) =
        (runs.get("cpython_threads"), runs.get("threads_with_gil"))
    {
        let cores = ratio(threads.cpu_ms, threads.wall_ms);
        lines.push(format!(
            "CPython {}: two threads took {:.2}x its sequential time ({} of wall time, {:.2} \
             CPU-seconds per second); the model's threads_with_gil took {:.2}x. {}",
            python.version,
            threads.ratio,
            human_ms(threads.wall_ms),
            cores,
            model.ratio,
            match (python.gil_enabled, cores <= 1.1) {
                (true, true) => "With its GIL on, CPython's threads used at most one core's worth.",
                (true, false) =>
                    "With its GIL on, CPython's threads used more than one \
                                  core's worth this time, which one GIL should not allow.",
                (false, _) =>
                    "Without a GIL, CPython's threads can use two cores at once, like \
                               threads_no_gil.",
            }
        ));
    }
    if let Some(threads) = runs.get("cpython_io_threads") {
        lines.push(format!(
            "CPython's {} blocking requests in threads took {:.2}x its one-after-the-other time{}: \
             urlopen waits in a system call, outside the interpreter, with the GIL released.",
            threads.requests.unwrap_or(0),
            threads.ratio,
            threads
                .max_in_flight
                .map(|m| format!(", {m} of them at the server at once"))
                .unwrap_or_default()
        ));
    }
    lines
}
