//! Section 1.5's speed claims, measured against the bounds they imply (`cargo bench -p ch01-gil-analogy`):
//! two CPU-bound threads under the GIL take at least 0.9x the sequential time; two processes,
//! lock-free threads and rayon take at most 0.7x on 2 idle cores; blocking requests
//! in threads under the GIL take at most 0.6x the sequential time.
//!
//! Every round runs each configuration once and compares it with that round's sequential run;
//! the median over the rounds counts, because 2 shared cores are noisy.
//! Exits with status 1 if a bound is missed. Run by `cargo test --benches` (no `--bench`
//! argument), it only checks that everything runs, with tiny sizes and no bounds.

use std::process::ExitCode;
use std::time::Duration;

use ch01_gil_analogy::SelfExe;
use ch01_gil_analogy::demos::gil as demo;
use ch01_gil_analogy::gil::Gil;
use shared::SlowServer;
use shared::timing::measure;

const INTERVAL: Duration = Duration::from_millis(5);

/// A bound: the ratio must be at least or at most this.
enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

impl Bound {
    fn met(&self, ratio: f64) -> bool {
        match *self {
            Bound::AtLeast(bound) => ratio >= bound,
            Bound::AtMost(bound) => ratio <= bound,
        }
    }

    fn describe(&self) -> String {
        match self {
            Bound::AtLeast(bound) => format!(">= {bound:.1}x"),
            Bound::AtMost(bound) => format!("<= {bound:.1}x"),
        }
    }
}

/// The middle value.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// One measured configuration: its bound, and its wall time and ratio to the baseline in every
/// round. Rounds run every configuration in turn and a ratio compares runs of the same round, so
/// a burst of load from other programs on the 2 cores distorts one round, not the verdict.
struct Row {
    name: &'static str,
    bound: Option<Bound>,
    walls: Vec<f64>,
    ratios: Vec<f64>,
}

impl Row {
    fn new(name: &'static str, bound: Option<Bound>) -> Self {
        Self {
            name,
            bound,
            walls: Vec::new(),
            ratios: Vec::new(),
        }
    }

    fn add(&mut self, wall: Duration, baseline: Duration) {
        self.walls.push(ms(wall));
        self.ratios
            .push(wall.as_secs_f64() / baseline.as_secs_f64());
    }
}

fn main() -> ExitCode {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let exe = SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"));
    let (n, rounds, requests, delay) = if benchmarking {
        (demo::calibrate(Duration::from_millis(300)).n, 7, 10, 100)
    } else {
        (12, 1, 2, 10)
    };
    println!(
        "GIL model speedups: fib({n}) twice, {rounds} rounds; {requests} requests of {delay} ms; \
         median per row"
    );
    let server = SlowServer::start().expect("the embedded server starts");
    let url = server
        .delay_url(delay)
        .parse()
        .expect("the server's URL parses");
    let client = shared::workloads::blocking_http_client(&url).expect("an HTTP client");

    let mut rows = [
        Row::new("sequential", None),
        Row::new("threads_with_gil", Some(Bound::AtLeast(0.9))),
        Row::new("threads_no_gil", Some(Bound::AtMost(0.7))),
        Row::new("processes", Some(Bound::AtMost(0.7))),
        Row::new("rayon", Some(Bound::AtMost(0.7))),
        Row::new("io_sequential", None),
        Row::new("io_threads_with_gil", Some(Bound::AtMost(0.6))),
    ];
    for round in 1..=rounds {
        eprintln!("  ... round {round} of {rounds}");
        let wall = |run: &dyn Fn()| measure(run).1.wall;
        let sequential = wall(&|| {
            demo::sequential(&Gil::new(INTERVAL), n);
        });
        let cpu_runs = [
            sequential,
            wall(&|| {
                demo::two_threads(&Gil::new(INTERVAL), n);
            }),
            wall(&|| {
                demo::two_threads(&Gil::disabled(), n);
            }),
            wall(&|| {
                demo::two_processes(&exe, n, INTERVAL).expect("the child processes ran");
            }),
            wall(&|| {
                demo::rayon_join(n);
            }),
        ];
        for (row, wall) in rows.iter_mut().zip(cpu_runs) {
            row.add(wall, sequential);
        }
        let this_round: Vec<String> = rows[..cpu_runs.len()]
            .iter()
            .map(|row| format!("{} {:.2}x", row.name, row.ratios[round - 1]))
            .collect();
        eprintln!("      {}", this_round.join(", "));
        // The request rows take about a second; two rounds of them are plenty.
        if round <= 2 {
            let gil = Gil::new(INTERVAL);
            let io_sequential = wall(&|| {
                demo::io_sequential(&gil, &client, &url, requests).expect("requests");
            });
            let io_threads = wall(&|| {
                demo::io_threads(&gil, &client, &url, requests).expect("requests");
            });
            rows[5].add(io_sequential, io_sequential);
            rows[6].add(io_threads, io_sequential);
        }
    }

    let mut missed = 0;
    println!(
        "{:<20} {:>10} {:>7} {:>9}  result",
        "measurement", "wall", "ratio", "bound"
    );
    for row in &rows {
        let (wall, ratio) = (median(&row.walls), median(&row.ratios));
        let (shown, verdict) = match &row.bound {
            None => ("baseline".to_string(), ""),
            Some(bound) if bound.met(ratio) => (bound.describe(), "met"),
            Some(bound) => {
                missed += 1;
                (bound.describe(), "MISSED")
            }
        };
        println!(
            "{:<20} {wall:>8.1}ms {ratio:>6.2}x {shown:>9}  {verdict}",
            row.name
        );
    }
    if benchmarking && missed > 0 {
        eprintln!("error: {missed} GIL-model bound(s) missed (see the table above)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
