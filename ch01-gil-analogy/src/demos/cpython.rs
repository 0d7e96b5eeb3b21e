//! Section 1.5, the model beside the real thing: when `python3` is on `PATH`, CPython runs the
//! book's fib twice, one after the other and in two threads (`fib_threads.py`, our own short
//! script), sized to take about as long as the model's sequential run.

use std::io::ErrorKind;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use shared::Narrator;
use shared::timing::{human_ms, ratio};

use super::gil::{GilRun, GilRuns};

/// The script, run with `python3 -c`.
pub const SCRIPT: &str = include_str!("fib_threads.py");

/// Which CPython ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Python {
    /// `sys.version`'s first word, e.g. `3.11.7`.
    pub version: String,
    /// `sys._is_gil_enabled()` where it exists (3.13 and later); true before 3.13.
    pub gil_enabled: bool,
}

/// What the script prints.
#[derive(Deserialize)]
struct Answer {
    version: String,
    gil_enabled: bool,
    fib_n: u32,
    /// (wall ms, CPU ms)
    sequential: (f64, f64),
    threads: (f64, f64),
}

/// Runs the script with `budget` per fib. `None` when there is no `python3` on `PATH`.
pub fn measure(budget: Duration) -> anyhow::Result<Option<(Python, Vec<GilRun>)>> {
    let output = match Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(format!("{:.3}", budget.as_secs_f64()))
        .output()
    {
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        result => result.context("could not run python3")?,
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no message");
        bail!("python3 failed ({}): {last}", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer: Answer = serde_json::from_str(stdout.trim())
        .with_context(|| format!("python3 printed something unexpected: {stdout}"))?;
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
    if !answer.gil_enabled {
        threads.note = Some(
            "this Python is free-threaded and runs without its GIL: the real threads_no_gil".into(),
        );
    }
    let python = Python {
        version: answer.version,
        gil_enabled: answer.gil_enabled,
    };
    Ok(Some((python, vec![sequential, threads])))
}

/// Prints the CPython rows (or why there are none) and returns the summary's line about them.
pub fn report(runs: &GilRuns, narrator: &Narrator) -> Option<String> {
    let Some(python) = &runs.python else {
        narrator.say("No python3 on PATH: the CPython rows are skipped.\n\n");
        return None;
    };
    let gil = if python.gil_enabled {
        "its GIL is on"
    } else {
        "its GIL is off (a free-threaded build, PEP 703)"
    };
    narrator.say(format!(
        "The same two fibs in real CPython {} ({gil}), sized to take about as long as the model's sequential run:",
        python.version
    ));
    if !narrator.json() {
        narrator.report(&shared::Report::new(
            "gil",
            "1.5",
            runs.cpython.iter().collect(),
        ));
    }
    let threads = runs.cpython.iter().find(|r| r.name == "cpython_threads")?;
    let model = runs.get("threads_with_gil")?;
    Some(format!(
        "CPython {}: two threads took {:.2}x its sequential time ({} of wall time, {:.2} \
         CPU-seconds per second); the model's threads_with_gil took {:.2}x. {}",
        python.version,
        threads.ratio,
        human_ms(threads.wall_ms),
        ratio(threads.cpu_ms, threads.wall_ms),
        model.ratio,
        if python.gil_enabled {
            "With its GIL on, CPython's threads also used at most one core at a time."
        } else {
            "Without a GIL, CPython's threads can use two cores at once, like threads_no_gil."
        }
    ))
}
