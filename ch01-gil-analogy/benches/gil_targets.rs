//! Section 1.5's speed claims, measured against their targets (`cargo bench -p ch01-gil-analogy`):
//! two CPU-bound threads under the GIL take at least 0.9x the sequential time; two processes,
//! lock-free threads and rayon take at most 0.7x on 2 cores (aiming for 0.6x); blocking requests
//! in threads under the GIL take at most 0.6x the sequential time.
//!
//! Each configuration runs a few rounds and the median counts, because 2 shared cores are noisy.
//! Exits with status 1 if a target is missed. Run by `cargo test --benches` (no `--bench`
//! argument), it only checks that everything runs, with tiny sizes and no targets.

use std::process::ExitCode;
use std::time::Duration;

use ch01_gil_analogy::SelfExe;
use ch01_gil_analogy::gil::{self, Gil, RunOutcome};
use shared::SlowServer;

const INTERVAL: Duration = Duration::from_millis(5);

/// A target: the ratio must be at least or at most this.
enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn met(&self, ratio: f64) -> bool {
        match *self {
            Target::AtLeast(bound) => ratio >= bound,
            Target::AtMost(bound) => ratio <= bound,
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::AtLeast(bound) => format!(">= {bound:.1}x"),
            Target::AtMost(bound) => format!("<= {bound:.1}x"),
        }
    }
}

/// The median wall time of `rounds` runs.
fn median(rounds: usize, mut run: impl FnMut() -> RunOutcome) -> Duration {
    let mut walls: Vec<Duration> = (0..rounds).map(|_| run().usage.wall).collect();
    walls.sort();
    walls[walls.len() / 2]
}

fn main() -> ExitCode {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let exe = SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"));
    let (n, rounds, requests, delay) = if benchmarking {
        (gil::calibrate_fib(Duration::from_millis(400)), 5, 10, 100)
    } else {
        (12, 1, 2, 10)
    };
    println!(
        "GIL model targets: fib({n}) twice, median of {rounds} rounds; {requests} requests of {delay} ms"
    );

    let sequential = median(rounds, || gil::sequential(n, INTERVAL));
    let cpu_rows: [(&str, Duration, Target); 4] = [
        (
            "threads_with_gil",
            median(rounds, || gil::two_threads(n, Gil::new(INTERVAL))),
            Target::AtLeast(0.9),
        ),
        (
            "threads_no_gil",
            median(rounds, || gil::two_threads(n, Gil::disabled())),
            Target::AtMost(0.7),
        ),
        (
            "processes",
            median(rounds, || {
                gil::two_processes(n, INTERVAL, &exe).expect("the child processes ran")
            }),
            Target::AtMost(0.7),
        ),
        (
            "rayon",
            median(rounds, || gil::rayon_join(n)),
            Target::AtMost(0.7),
        ),
    ];

    let server = SlowServer::start().expect("the embedded server starts");
    let url = server
        .delay_url(delay)
        .parse()
        .expect("the server's URL parses");
    let io_rounds = rounds.min(2);
    let io_sequential = median(io_rounds, || {
        gil::io_sequential(requests, &url, INTERVAL).expect("requests")
    });
    let io_threads = median(io_rounds, || {
        gil::io_threads(requests, &url, INTERVAL).expect("requests")
    });

    let mut missed = 0;
    println!(
        "{:<20} {:>10} {:>7} {:>9}  result",
        "measurement", "wall", "ratio", "target"
    );
    println!(
        "{:<20} {:>8.1}ms {:>6.2}x {:>9}",
        "sequential",
        ms(sequential),
        1.0,
        "baseline"
    );
    let io_row = (
        "io_threads_with_gil",
        io_threads,
        io_sequential,
        Target::AtMost(0.6),
    );
    let rows = cpu_rows
        .into_iter()
        .map(|(name, wall, target)| (name, wall, sequential, target))
        .chain([
            (
                "io_sequential",
                io_sequential,
                io_sequential,
                Target::AtMost(f64::INFINITY),
            ),
            io_row,
        ]);
    for (name, wall, base, target) in rows {
        let ratio = wall.as_secs_f64() / base.as_secs_f64();
        let (shown, verdict) = match target {
            Target::AtMost(bound) if bound.is_infinite() => ("baseline".to_string(), ""),
            _ if target.met(ratio) => (target.describe(), "met"),
            _ => {
                missed += 1;
                (target.describe(), "MISSED")
            }
        };
        println!(
            "{name:<20} {:>8.1}ms {ratio:>6.2}x {shown:>9}  {verdict}",
            ms(wall)
        );
    }
    if benchmarking && missed > 0 {
        eprintln!("error: {missed} GIL-model target(s) missed (see the table above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
