//! Section 1.7 benchmarks: what a task and a timer cost on the hand-built loop (criterion), then
//! `serve`'s echo head to head with tokio's echo-bench server, in alternating rounds (hand-built,
//! tokio, hand-built, ...) so that a busy moment on the shared machine hits both, with the
//! medians printed as a ratio. The other workloads against tokio are what the demos print.
//!
//! `cargo bench -p ch01-event-loop`; `HEAD_TO_HEAD=0` skips the second part.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ch01_event_loop::cli::Cli;
use ch01_event_loop::demos::echo_bench::{self, EchoRun};
use ch01_event_loop::demos::serve;
use ch01_event_loop::event_loop::{EventLoop, sleep_until, spawn};
use clap::Parser as _;
use criterion::{Criterion, Throughput, criterion_group};

const TASKS: u64 = 10_000;
const TIMERS: u64 = 10_000;
/// Alternating rounds in the head-to-head part.
const ROUNDS: usize = 5;
/// Benchmarks `work` as `group/name`, `elements` per run.
fn bench<T>(c: &mut Criterion, (group, name): (&str, &str), elements: u64, work: impl Fn() -> T) {
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(elements));
    group.bench_function(name, |b| b.iter(&work));
    group.finish();
}

/// What a task and a timer cost on the hand-built loop, per element: spawn a task that finishes
/// at its first poll and collect its result; sleep until a timer due almost at once (1 ms), so
/// that the benchmark measures the timers and the wake-ups, not the waiting.
fn hand_built_loop(c: &mut Criterion) {
    let event_loop = EventLoop::new().unwrap();
    bench(c, ("spawn_complete", "hand_built"), TASKS, || {
        event_loop.block_on(async {
            let handles: Vec<_> = (0..TASKS).map(|i| spawn(async move { i })).collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            black_box(sum)
        })
    });
    bench(c, ("timers", "hand_built_1ms"), TIMERS, || {
        event_loop.block_on(async {
            let deadline = Instant::now() + Duration::from_millis(1);
            let handles: Vec<_> = (0..TIMERS).map(|_| spawn(sleep_until(deadline))).collect();
            for handle in handles {
                handle.await.unwrap();
            }
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = hand_built_loop
}

/// `serve`'s echo (a buffer only while data is in hand) against tokio's, under the same client:
/// round trips per second and server CPU per round trip, medians of `ROUNDS` alternating rounds.
fn serve_head_to_head() {
    let flags = ["bench", "--connections", "32", "--round-trips", "2000"];
    let sizes = Cli::parse_from(flags).sizes;
    let (mut hand, mut tokio) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let serve = |listener, _| serve::serve(listener);
        hand.push(echo_bench::hand_built(&sizes, false, serve).unwrap());
        tokio.push(echo_bench::with_tokio(&sizes).unwrap());
    }
    let median = |runs: &[EchoRun], of: fn(&EchoRun) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(of).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let rate = |run: &EchoRun| run.round_trips_per_s;
    let cpu = |run: &EchoRun| run.server_cpu_us_per_round_trip;
    let (hand_rate, tokio_rate) = (median(&hand, rate), median(&tokio, rate));
    let (hand_cpu, tokio_cpu) = (median(&hand, cpu), median(&tokio, cpu));
    println!(
        "serve's echo ({} x {}): hand-built {hand_rate:.0}/s, tokio {tokio_rate:.0}/s: {:.3}x the \
         rate; server CPU {hand_cpu:.2} vs {tokio_cpu:.2} us per round trip: {:.3}x",
        sizes.connections,
        sizes.round_trips,
        hand_rate / tokio_rate,
        hand_cpu / tokio_cpu
    );
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::var("HEAD_TO_HEAD").is_ok_and(|value| value == "0") {
        return;
    }
    println!(
        "\nhead to head with tokio's current-thread runtime, median of {ROUNDS} alternating rounds:"
    );
    serve_head_to_head();
}
