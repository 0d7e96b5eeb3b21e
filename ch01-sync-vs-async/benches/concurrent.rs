//! Section 1.1's speed target: N concurrent requests of D = 100 ms should take about D, not N x D.
//! Prints efficiency = D / wall for N = 10, 100 and 1,000 (target: >= 0.8 at N = 1,000).
//!
//! A plain `main` instead of criterion: the quantity is one wall time per run, compared with a
//! known ideal, and a handful of runs is enough to see it. Two cases per N:
//! - cold: a fresh client, so opening the N connections (connect, accept) is part of the time,
//!   as in the demo;
//! - warm: the same client again, its N connections kept alive in its pool, as a long-running
//!   program would have them.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ch01_sync_vs_async::demos::requests::concurrent;
use shared::workloads::{Target, http_client};
use shared::{Stopwatch, Usage};

const DELAY_MS: u64 = 100;
const RUNS: usize = 3;
const TARGET_AT_1000: f64 = 0.8;

fn main() -> anyhow::Result<()> {
    let target = Target::new(None, DELAY_MS)?;
    shared::fdlimit::ensure_available(2 * 1000, "1000 concurrent requests")?;
    // One thread, like the demo: the event loop of section 1.1.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ideal = Duration::from_millis(DELAY_MS).as_secs_f64();
    let run_once = |client: &reqwest::Client, n: u64| -> anyhow::Result<(Usage, u64)> {
        target.reset();
        let done = AtomicU64::new(0);
        let watch = Stopwatch::start();
        runtime.block_on(concurrent(client, target.url(), n, None, &done))?;
        Ok((watch.usage(), target.max_in_flight().unwrap_or(0)))
    };

    println!(
        "concurrent requests of D = {DELAY_MS} ms on one thread; efficiency = D / wall (1.0 is ideal)"
    );
    println!("(median of {RUNS} runs; cpu = client and embedded server together, per run)");
    println!(
        "{:>6}  {:>5}  {:>10}  {:>10}  {:>13}  {:>10}",
        "N", "pool", "wall", "efficiency", "max_in_flight", "cpu"
    );
    let mut verdicts = Vec::new();
    for n in [10u64, 100, 1000] {
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for _ in 0..RUNS {
            let client = http_client(target.url())?;
            cold.push(run_once(&client, n)?);
            warm.push(run_once(&client, n)?);
            // Dropped inside the runtime, so its connections close there.
            let _inside = runtime.enter();
            drop(client);
        }
        for (pool, mut runs) in [("cold", cold), ("warm", warm)] {
            runs.sort_by_key(|(usage, _)| usage.wall);
            let (usage, max_in_flight) = runs[RUNS / 2];
            let efficiency = ideal / usage.wall.as_secs_f64();
            println!(
                "{n:>6}  {pool:>5}  {:>10}  {efficiency:>10.2}  {max_in_flight:>13}  {:>10}",
                shared::timing::human(usage.wall),
                shared::timing::human(usage.cpu)
            );
            if n == 1000 {
                verdicts.push((pool, efficiency));
            }
        }
    }
    for (pool, efficiency) in verdicts {
        let verdict = if efficiency >= TARGET_AT_1000 {
            "met"
        } else {
            "NOT met"
        };
        println!(
            "target efficiency >= {TARGET_AT_1000} at N = 1000, {pool}: {verdict} ({efficiency:.2})"
        );
    }
    Ok(())
}
