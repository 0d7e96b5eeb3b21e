//! Section 1.7 benchmarks: what a task and a timer cost on the hand-built loop (criterion), then
//! `serve`'s echo head to head with tokio's echo-bench server, in alternating rounds (hand-built,
//! tokio, hand-built, ...) so that a busy moment on the shared machine hits both, with the
//! medians printed as a ratio. The other workloads against tokio are what the demos print.
//!
//! `cargo bench -p ch01-event-loop`; `HEAD_TO_HEAD=0` skips the second part.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ch01_event_loop::cli::Sizes;
use ch01_event_loop::demos::{echo_bench, serve};
use ch01_event_loop::event_loop::{EventLoop, TcpListener, sleep_until, spawn};
use criterion::{Criterion, Throughput, criterion_group};
use shared::timing::thread_cpu_time;

const TASKS: u64 = 10_000;
const TIMERS: u64 = 10_000;
/// Alternating rounds in the head-to-head part.
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

/// `serve`'s echo (a buffer only while data is in hand) against tokio's, under the same client:
/// round trips per second and server CPU per round trip, medians of `ROUNDS` alternating rounds.
fn serve_head_to_head() {
    let sizes = Sizes {
        connections: 32,
        round_trips: 2_000,
        ..Sizes::default()
    };
    let (mut rates, mut cpu) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for _ in 0..ROUNDS {
        let (event_loop, before) = (EventLoop::new().unwrap(), thread_cpu_time());
        let client = event_loop.block_on(async {
            let listener = TcpListener::bind(([127, 0, 0, 1], 0).into()).unwrap();
            let addr = listener.local_addr().unwrap();
            let (done, finished) = futures::channel::oneshot::channel();
            let (connections, round_trips) = (sizes.connections, sizes.round_trips);
            std::thread::spawn(move || {
                done.send(echo_bench::load_client(addr, connections, round_trips))
            });
            drop(spawn(serve::serve(listener)));
            finished.await.unwrap().unwrap()
        });
        let server_cpu = thread_cpu_time() - before;
        let trips = client.round_trips as f64;
        rates.0.push(trips / client.wall.as_secs_f64());
        cpu.0.push(server_cpu.as_secs_f64() * 1e6 / trips);
        let run = echo_bench::with_tokio(&sizes).unwrap();
        let trips = run.client.round_trips as f64;
        rates.1.push(trips / run.client.wall.as_secs_f64());
        cpu.1.push(run.server_cpu.as_secs_f64() * 1e6 / trips);
    }
    let (hand, tokio) = (median(rates.0), median(rates.1));
    let (hand_cpu, tokio_cpu) = (median(cpu.0), median(cpu.1));
    println!(
        "serve's echo ({} x {}): hand-built {hand:.0}/s, tokio {tokio:.0}/s: {:.3}x the rate; \
         server CPU {hand_cpu:.2} vs {tokio_cpu:.2} us per round trip: {:.3}x",
        sizes.connections,
        sizes.round_trips,
        hand / tokio,
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
