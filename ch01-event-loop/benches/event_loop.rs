//! Section 1.7 benchmarks: what a task, a timer and an echo round trip cost on the hand-built
//! loop, and the echo round trips next to tokio's current-thread runtime.
//! `cargo bench -p ch01-event-loop` (about a minute).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ch01_event_loop::demos::echo_bench;
use ch01_event_loop::event_loop::{EventLoop, sleep_until, spawn};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TASKS: u64 = 10_000;
const TIMERS: u64 = 10_000;
const CONNECTIONS: u64 = 16;
const ROUND_TRIPS: u64 = 200;

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

/// Timers that are due almost at once (1 ms), so the benchmark measures the heap and the
/// wakes, not the waiting.
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

/// The echo-bench demo's two servers with the same client: round trips per second.
fn echo_round_trips(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo_round_trips");
    group.throughput(Throughput::Elements(CONNECTIONS * ROUND_TRIPS));
    group.bench_function("hand_built", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| {
                    echo_bench::hand_built(CONNECTIONS, ROUND_TRIPS, false)
                        .unwrap()
                        .client
                        .wall
                })
                .sum()
        })
    });
    group.bench_function("tokio", |b| {
        b.iter_custom(|iterations| {
            (0..iterations)
                .map(|_| {
                    echo_bench::with_tokio(CONNECTIONS, ROUND_TRIPS)
                        .unwrap()
                        .client
                        .wall
                })
                .sum()
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
    targets = spawn_and_complete, timer_throughput, echo_round_trips
}
criterion_main!(benches);
