//! Section 1.7 benchmarks: what a task and a timer cost on the hand-built loop (criterion). The
//! loop against tokio is measured by the demos themselves (`echo-bench`, `timers`, `requests`).
//!
//! `cargo bench -p ch01-event-loop`

use std::hint::black_box;
use std::time::{Duration, Instant};

use ch01_event_loop::event_loop::{EventLoop, sleep_until, spawn};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TASKS: u64 = 10_000;
const TIMERS: u64 = 10_000;

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

criterion_main!(benches);
