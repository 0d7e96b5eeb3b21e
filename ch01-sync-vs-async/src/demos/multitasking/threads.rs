//! Section 1.3, preemptive multitasking and parallelism: two OS threads that never yield. The OS
//! decides who runs: on one core it time-slices them, on two it runs them at the same time.
//!
//! A thread cannot see the scheduler, but it can notice it: it works in tiny chunks and reads the
//! clock after each. A jump in the clock much longer than a chunk means it was off the CPU. Each
//! unbroken run is recorded as a `Cpu` span (a time slice), each jump as an `Idle` span.

use std::time::{Duration, Instant};

use shared::{SpanKind, SpanRecorder};

use super::busy::chunk;

/// A clock jump longer than this means "descheduled": a chunk takes a few microseconds.
const OFF_CPU_GAP: Duration = Duration::from_micros(200);

/// The two threads' span labels.
pub const THREADS: [&str; 2] = ["thread A", "thread B"];

/// What the two threads did.
#[derive(Debug, Clone, Default)]
pub struct TwoThreads {
    /// Chunks of work each thread finished: both > 0 means both made progress.
    pub progress: [u64; 2],
    /// The CPUs each thread was seen on (Linux), to show that pinning held.
    pub cpus_seen: Vec<usize>,
}

/// Runs two spinning threads for `busy`; thread i is pinned to CPU `pins[i]` when given.
pub fn run_two(
    busy: Duration,
    pins: [Option<usize>; 2],
    recorder: &SpanRecorder,
) -> anyhow::Result<TwoThreads> {
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = THREADS
            .iter()
            .zip(pins)
            .map(|(&name, pin_to)| {
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn_scoped(scope, move || spin_and_record(name, busy, pin_to, recorder))
            })
            .collect();
        handles
            .into_iter()
            .map(|spawned| {
                let handle = spawned?;
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a spinning thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<(u64, Vec<usize>)>>>()
    })?;
    let mut out = TwoThreads::default();
    for (i, (progress, cpus)) in results.into_iter().enumerate() {
        out.progress[i] = progress;
        out.cpus_seen.extend(cpus);
    }
    out.cpus_seen.sort_unstable();
    out.cpus_seen.dedup();
    Ok(out)
}

fn spin_and_record(
    name: &str,
    busy: Duration,
    pin_to: Option<usize>,
    recorder: &SpanRecorder,
) -> anyhow::Result<(u64, Vec<usize>)> {
    #[cfg(target_os = "linux")]
    if let Some(cpu) = pin_to {
        super::pin::pin_current_thread(cpu)
            .map_err(|e| anyhow::anyhow!("could not pin {name} to CPU {cpu}: {e}"))?;
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pin_to;

    let mut cpus = Vec::new();
    let started = Instant::now();
    let until = started + busy;
    let mut slice_start = started;
    let mut last = started;
    let mut chunks = 0u64;
    // Bounded by the clock.
    loop {
        chunk();
        chunks += 1;
        let now = Instant::now();
        if now - last > OFF_CPU_GAP {
            recorder.record(name, SpanKind::Cpu, slice_start, last);
            recorder.record(name, SpanKind::Idle, last, now);
            slice_start = now;
            note_cpu(&mut cpus);
        }
        last = now;
        if now >= until {
            break;
        }
    }
    recorder.record(name, SpanKind::Cpu, slice_start, last);
    note_cpu(&mut cpus);
    Ok((chunks, cpus))
}

fn note_cpu(cpus: &mut Vec<usize>) {
    #[cfg(target_os = "linux")]
    if let Some(cpu) = super::pin::current_cpu() {
        if !cpus.contains(&cpu) {
            cpus.push(cpu);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpus;
}
