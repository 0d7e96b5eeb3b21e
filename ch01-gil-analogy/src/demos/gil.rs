//! Section 1.5: the global interpreter lock, switched on and off.
//!
//! The same bytecode (the book's recursive fib, listings 1.5/1.6) runs one fib after the other,
//! in two threads under one GIL, in two threads without it, in two processes with a GIL each, and
//! with rayon. Then blocking requests (listings 1.7/1.8) run one after the other and in threads
//! under the GIL, which each thread releases while it waits.

use std::time::Duration;

use anyhow::ensure;
use reqwest::Url;
use shared::legacy::DemoReport;
use shared::legacy::narrate::Narrator;
use shared::legacy::report::Measurement;
use shared::workloads::Target;

use crate::Sizes;
use crate::child::SelfExe;
use crate::gil::{self, Gil, RunOutcome};

/// With no `--fib`, one fib(n) is calibrated to take about this long, so the sequential run of
/// two takes about a second in a debug build and in `--release` alike.
pub const CALIBRATED_FIB_BUDGET: Duration = Duration::from_millis(500);

/// The `gil` demo.
pub fn run(
    narrator: &Narrator,
    sizes: &Sizes,
    url: Option<&Url>,
    exe: &SelfExe,
) -> anyhow::Result<DemoReport> {
    // First, so that an unreachable --url is reported at once, not after the fib runs.
    let target = Target::new(url, sizes.delay)?;
    narrator.header(
        "1.5",
        "Understanding the global interpreter lock",
        "Under one GIL, two CPU-bound threads are no faster than one after the other; two\n\
         processes (one GIL each), lock-free threads and rayon are. Threads doing blocking I/O\n\
         speed up even under the GIL, because a thread releases it while it waits.",
    );
    let interval = sizes.switch_interval();
    let n = match sizes.fib {
        Some(n) => n,
        None => {
            let calibration = gil::calibrate(CALIBRATED_FIB_BUDGET);
            narrator.say(format!(
                "Calibrated: one fib({}) should take about {} ms on the model interpreter in this \
                 build (choose with --fib N; --release runs much faster).",
                calibration.n,
                calibration.estimate.as_millis()
            ));
            calibration.n
        }
    };
    narrator.say(format!(
        "Each run computes fib({n}) twice by executing bytecode; the switch interval is {} ms.\n",
        interval.as_millis()
    ));

    let progress = narrator.progress(format!("fib({n}) five ways, then requests"), Some(7));
    let sequential = gil::sequential(n, interval);
    progress.inc();
    let with_gil = gil::two_threads(n, Gil::new(interval));
    progress.inc();
    let no_gil = gil::two_threads(n, Gil::disabled());
    progress.inc();
    let processes = gil::two_processes(n, interval, exe)?;
    progress.inc();
    let rayon = gil::rayon_join(n);
    progress.inc();
    let expected = shared::workloads::fib(n);
    for (name, run) in [
        ("sequential", &sequential),
        ("threads_with_gil", &with_gil),
        ("threads_no_gil", &no_gil),
        ("processes", &processes),
        ("rayon", &rayon),
    ] {
        ensure!(
            run.values == [expected, expected],
            "{name} computed {:?}, but fib({n}) is {expected}",
            run.values
        );
    }

    let io_sequential = measured_io(&target, || {
        gil::io_sequential(sizes.requests, target.url(), interval)
    })?;
    progress.inc();
    let io_threads = measured_io(&target, || {
        gil::io_threads(sizes.requests, target.url(), interval)
    })?;
    progress.inc();
    drop(progress);

    let mut report = DemoReport::new("gil", "1.5");
    let cpu_base = sequential.usage.wall;
    report.push(cpu_row("sequential", &sequential, cpu_base).field("fib_n", n));
    report.push(
        cpu_row("threads_with_gil", &with_gil, cpu_base)
            .field("handoffs", with_gil.handoffs as f64)
            .field("drop_requests", with_gil.drop_requests as f64)
            .field("lock_wait_ms", ms(with_gil.lock_wait())),
    );
    report.push(cpu_row("threads_no_gil", &no_gil, cpu_base));
    report.push(cpu_row("processes", &processes, cpu_base));
    report.push(cpu_row("rayon", &rayon, cpu_base));
    let io_base = io_sequential.usage.wall;
    report.push(io_row(
        "io_sequential",
        &io_sequential,
        io_base,
        sizes.requests,
    ));
    report.push(
        io_row("io_threads_with_gil", &io_threads, io_base, sizes.requests)
            .field("handoffs", io_threads.handoffs as f64),
    );
    narrator.report(&report, None);
    narrator.say(
        "ratio = wall time / wall time of sequential (fib rows) or of io_sequential (request rows)\n",
    );

    // A whole run has hundreds of 5 ms slices, too thin to draw; the first dozen show the pattern.
    let zoom = interval * 12;
    narrator.timeline(
        &format!(
            "threads_with_gil, the first {} ms: the lock passes back and forth",
            zoom.as_millis()
        ),
        &shared::legacy::timeline::first(&with_gil.spans, zoom),
    );
    narrator.timeline("threads_no_gil: both threads run at once", &no_gil.spans);
    narrator.timeline(
        "processes: one GIL each, both run at once",
        &processes.spans,
    );
    narrator.timeline(
        "io_threads_with_gil: the lock is released during every request",
        &io_threads.spans,
    );

    let ratio = |name: &str| report.get(name).and_then(|m| m.get("ratio")).unwrap_or(0.0);
    let cpu_line = format!(
        "Two threads under the GIL took {:.2}x the sequential time (target: >= 0.9x), with \
         cpu/wall {:.2} (never more than one core at a time). The lock changed hands {} times \
         and the threads waited {:.0} ms for it in total. Each hand-off costs a wake-up: while the next thread \
         is woken and scheduled, no bytecode runs at all, so it is often slower than sequential.",
        ratio("threads_with_gil"),
        with_gil.usage.cpu_per_wall(),
        with_gil.handoffs,
        ms(with_gil.lock_wait())
    );
    let parallel_line = format!(
        "Without the lock: threads {:.2}x, processes {:.2}x, rayon {:.2}x (target on 2 cores: \
         <= 0.7x). A process brings its own GIL, as multiprocessing does.",
        ratio("threads_no_gil"),
        ratio("processes"),
        ratio("rayon")
    );
    let io_line = format!(
        "{} blocking requests in threads under the GIL took {:.2}x the sequential time (target: \
         <= 0.6x): the lock is released around I/O, so the waits overlap.",
        sizes.requests,
        ratio("io_threads_with_gil")
    );
    narrator.summary("1.5", &[&cpu_line, &parallel_line, &io_line]);
    Ok(report)
}

/// Runs an I/O run against the target and notes the most requests the server saw at once.
fn measured_io(
    target: &Target,
    run: impl FnOnce() -> anyhow::Result<RunOutcome>,
) -> anyhow::Result<RunOutcome> {
    target.reset();
    let mut outcome = run()?;
    outcome.max_in_flight = target.max_in_flight();
    Ok(outcome)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn ratio(wall: Duration, base: Duration) -> f64 {
    if base.is_zero() {
        0.0
    } else {
        wall.as_secs_f64() / base.as_secs_f64()
    }
}

fn cpu_row(name: &str, run: &RunOutcome, base: Duration) -> Measurement {
    Measurement::from_usage(name, run.usage).field("ratio", ratio(run.usage.wall, base))
}

fn io_row(name: &str, run: &RunOutcome, base: Duration, requests: u64) -> Measurement {
    let row = Measurement::from_usage(name, run.usage)
        .field("ratio", ratio(run.usage.wall, base))
        .field("requests", requests as f64);
    match run.max_in_flight {
        Some(max) => row.field("max_in_flight", max as f64),
        None => row,
    }
}
