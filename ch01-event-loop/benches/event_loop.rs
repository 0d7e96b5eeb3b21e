//! Section 1.7 benchmarks: what a task and a timer cost on the hand-built loop (criterion), then
//! the loop head to head with tokio's current-thread runtime on four workloads, each measured
//! in alternating rounds (hand-built, tokio, hand-built, ...) so that a busy moment on the shared
//! machine hits both, with the median of each printed as a ratio.
//!
//! `cargo bench -p ch01-event-loop` (about two minutes); `HEAD_TO_HEAD=0` skips the second part.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ch01_event_loop::cli::Sizes;
use ch01_event_loop::demos::echo_bench::Watch;
use ch01_event_loop::demos::timers::ChildResult;
use ch01_event_loop::demos::{echo_bench, requests, serve};
use ch01_event_loop::event_loop::{EventLoop, TcpListener, sleep_until, spawn};
use criterion::{Criterion, Throughput, criterion_group};
use shared::narrate::{Mode, Narrator};
use shared::timing::thread_cpu_time;

const TASKS: u64 = 10_000;
const TIMERS: u64 = 10_000;
/// Alternating rounds per workload in the head-to-head part.
const ROUNDS: usize = 5;

/// Spawn a task that finishes at its first poll, and collect its result: per task.
fn spawn_and_complete(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_complete");
    group.throughput(Throughput::Elements(TASKS));
    let event_loop = EventLoop::new().unwrap();
    group.bench_function("hand_built", |b| {
        b.iter(|| {
            event_loop.block_on(async {
                let handles: Vec<_> = (0..TASKS).map(|i| spawn(async move { i })).collect();
                let mut sum = 0;
                for handle in handles {
                    sum += handle.await.unwrap();
                }
                black_box(sum)
            })
        })
    });
    group.finish();
}

/// Timers that are due almost at once (1 ms), so the benchmark measures the timers and the
/// wake-ups, not the waiting.
fn timer_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers");
    group.throughput(Throughput::Elements(TIMERS));
    let event_loop = EventLoop::new().unwrap();
    group.bench_function("hand_built_1ms", |b| {
        b.iter(|| {
            event_loop.block_on(async {
                let deadline = Instant::now() + Duration::from_millis(1);
                let handles: Vec<_> = (0..TIMERS).map(|_| spawn(sleep_until(deadline))).collect();
                for handle in handles {
                    handle.await.unwrap();
                }
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = spawn_and_complete, timer_throughput
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs `hand_built` and `tokio` alternately `ROUNDS` times; returns the median of each.
fn alternate(mut hand_built: impl FnMut() -> f64, mut tokio: impl FnMut() -> f64) -> (f64, f64) {
    let (mut hand, mut tok) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        hand.push(hand_built());
        tok.push(tokio());
    }
    (median(hand), median(tok))
}

/// Echo round trips: 32 connections x 2,000 round trips of 64 bytes. Higher is better for the
/// rate, lower for the server's CPU per round trip.
fn echo_head_to_head() {
    let (connections, round_trips) = (32, 2_000);
    let mut cpu = (Vec::new(), Vec::new());
    let (hand, tokio) = alternate(
        || {
            let run = echo_bench::hand_built(connections, round_trips, Watch::Nothing).unwrap();
            cpu.0
                .push(run.server_cpu.as_secs_f64() * 1e6 / run.client.round_trips as f64);
            run.client.round_trips as f64 / run.client.wall.as_secs_f64()
        },
        || {
            let run = echo_bench::with_tokio(connections, round_trips).unwrap();
            cpu.1
                .push(run.server_cpu.as_secs_f64() * 1e6 / run.client.round_trips as f64);
            run.client.round_trips as f64 / run.client.wall.as_secs_f64()
        },
    );
    let (hand_cpu, tokio_cpu) = (median(cpu.0), median(cpu.1));
    println!(
        "echo round trips ({connections} x {round_trips}): hand-built {hand:.0}/s, tokio \
         {tokio:.0}/s: {:.3}x the rate; server CPU {hand_cpu:.2} vs {tokio_cpu:.2} us per round \
         trip: {:.3}x",
        hand / tokio,
        hand_cpu / tokio_cpu
    );
}

/// `serve`'s echo (a buffer only while data is in hand) against tokio's, under the same client.
fn serve_head_to_head() {
    let (connections, round_trips) = (32, 2_000);
    let mut cpu = (Vec::new(), Vec::new());
    let (hand, tokio) = alternate(
        || {
            let (event_loop, before) = (EventLoop::new().unwrap(), thread_cpu_time());
            let client = event_loop.block_on(async {
                let listener = TcpListener::bind(([127, 0, 0, 1], 0).into()).unwrap();
                let addr = listener.local_addr().unwrap();
                let (done, finished) = futures::channel::oneshot::channel();
                std::thread::spawn(move || {
                    done.send(echo_bench::load_client(addr, connections, round_trips))
                });
                drop(spawn(serve::serve(listener)));
                finished.await.unwrap().unwrap()
            });
            let server_cpu = thread_cpu_time() - before;
            cpu.0
                .push(server_cpu.as_secs_f64() * 1e6 / client.round_trips as f64);
            client.round_trips as f64 / client.wall.as_secs_f64()
        },
        || {
            let run = echo_bench::with_tokio(connections, round_trips).unwrap();
            cpu.1
                .push(run.server_cpu.as_secs_f64() * 1e6 / run.client.round_trips as f64);
            run.client.round_trips as f64 / run.client.wall.as_secs_f64()
        },
    );
    let (hand_cpu, tokio_cpu) = (median(cpu.0), median(cpu.1));
    println!(
        "serve's echo ({connections} x {round_trips}): hand-built {hand:.0}/s, tokio {tokio:.0}/s: \
         {:.3}x the rate; server CPU {hand_cpu:.2} vs {tokio_cpu:.2} us per round trip: {:.3}x",
        hand / tokio,
        hand_cpu / tokio_cpu
    );
}

/// A million tasks each sleeping 1 s, each runtime in a fresh process (the demo's hidden
/// `timers-child`), so that peak memory is its own.
fn timers_head_to_head(program: &Path) {
    let count = 1_000_000u64;
    let child = |runtime: &str| -> ChildResult {
        let output = Command::new(program)
            .args([
                "timers-child",
                "--runtime",
                runtime,
                "--count",
                &count.to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let per_task = |result: &ChildResult| {
        result.peak_rss_kb.saturating_sub(result.start_rss_kb) as f64 * 1024.0 / count as f64
    };
    let mut bytes = (Vec::new(), Vec::new());
    let (hand, tokio) = alternate(
        || {
            let result = child("hand-built");
            bytes.0.push(per_task(&result));
            result.wall_ms
        },
        || {
            let result = child("tokio");
            bytes.1.push(per_task(&result));
            result.wall_ms
        },
    );
    let (hand_bytes, tokio_bytes) = (median(bytes.0), median(bytes.1));
    println!(
        "1,000,000 sleeps of 1 s: hand-built {hand:.0} ms, tokio {tokio:.0} ms: {:.3}x the time; \
         {hand_bytes:.0} vs {tokio_bytes:.0} bytes per task: {:.3}x",
        hand / tokio,
        hand_bytes / tokio_bytes
    );
}

/// 1,000 requests of 500 ms to the embedded server, all at once.
fn requests_head_to_head() {
    let sizes = Sizes {
        requests: 1_000,
        delay_ms: 500,
        ..Sizes::default()
    };
    let quiet = Narrator::with_mode(Mode::Quiet, false);
    let (mut hand_walls, mut tokio_walls) = (Vec::new(), Vec::new());
    // Each round runs the hand-built loop, then tokio: the two alternate.
    for _ in 0..ROUNDS {
        let result = requests::measure(&sizes, &quiet).unwrap();
        hand_walls.push(shared::timing::ms(result.hand_built.wall));
        tokio_walls.push(shared::timing::ms(result.tokio.wall));
    }
    let (hand, tokio) = (median(hand_walls), median(tokio_walls));
    println!(
        "1,000 requests of 500 ms: hand-built {hand:.0} ms, tokio + reqwest {tokio:.0} ms: \
         {:.3}x the time",
        hand / tokio
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
    echo_head_to_head();
    serve_head_to_head();
    timers_head_to_head(Path::new(env!("CARGO_BIN_EXE_ch01-event-loop")));
    requests_head_to_head();
}
