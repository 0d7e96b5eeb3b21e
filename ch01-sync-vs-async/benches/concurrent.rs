//! Section 1.1's speed target: N concurrent requests of D = 100 ms should take about D, not N x D.
//! Prints efficiency = D / wall for N = 10, 100 and 1,000 (target: >= 0.8 at N = 1,000).
//!
//! A plain `main` instead of criterion: the quantity is one wall time per run, compared with a
//! known ideal, and a handful of runs is enough to see it. Each N is measured:
//! - on one thread with `join_all` (exactly the demo's `concurrent` leg), and on a multi-thread
//!   runtime with one spawned task per request (what a second core buys);
//! - cold: a fresh client, so opening the N connections (connect, accept) is part of the time,
//!   as in the demo; warm: the same client again, its N connections kept alive in its pool, as
//!   a long-running program would have them.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::Context as _;
use ch01_sync_vs_async::demos::requests::concurrent;
use reqwest::{Client, Url};
use shared::workloads::{Target, fetch, http_client};
use shared::{Stopwatch, Usage};
use tokio::runtime::{Builder, Runtime};

const DELAY_MS: u64 = 100;
const RUNS: usize = 3;
const TARGET_AT_1000: f64 = 0.8;

#[derive(Clone, Copy, PartialEq)]
enum Flavour {
    /// The demo: one thread, `join_all`.
    OneThread,
    /// Worker threads on every core, one spawned task per request.
    Spawned,
}

impl Flavour {
    fn label(self) -> &'static str {
        match self {
            Flavour::OneThread => "1 thread, join_all",
            Flavour::Spawned => "all cores, tokio::spawn",
        }
    }

    fn runtime(self) -> std::io::Result<Runtime> {
        match self {
            Flavour::OneThread => Builder::new_current_thread().enable_all().build(),
            Flavour::Spawned => Builder::new_multi_thread().enable_all().build(),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let target = Target::new(None, DELAY_MS)?;
    shared::fdlimit::ensure_available(2 * 1000, "1000 concurrent requests")?;
    let ideal = Duration::from_millis(DELAY_MS).as_secs_f64();

    println!("concurrent requests of D = {DELAY_MS} ms; efficiency = D / wall (1.0 is ideal)");
    println!("(median of {RUNS} runs; cpu = client and embedded server together, per run)");
    println!(
        "{:<24}  {:>5}  {:>5}  {:>10}  {:>10}  {:>13}  {:>10}",
        "runtime", "N", "pool", "wall", "efficiency", "max_in_flight", "cpu"
    );
    let mut verdicts = Vec::new();
    for flavour in [Flavour::OneThread, Flavour::Spawned] {
        let runtime = flavour.runtime()?;
        for n in [10u64, 100, 1000] {
            let mut cold = Vec::new();
            let mut warm = Vec::new();
            for _ in 0..RUNS {
                let client = http_client(target.url())?;
                cold.push(run_once(&runtime, flavour, &client, &target, n)?);
                warm.push(run_once(&runtime, flavour, &client, &target, n)?);
                // Dropped inside the runtime, so its connections close there.
                let _inside = runtime.enter();
                drop(client);
            }
            for (pool, mut runs) in [("cold", cold), ("warm", warm)] {
                runs.sort_by_key(|(usage, _)| usage.wall);
                let (usage, max_in_flight) = runs[RUNS / 2];
                let efficiency = ideal / usage.wall.as_secs_f64();
                println!(
                    "{:<24}  {n:>5}  {pool:>5}  {:>10}  {efficiency:>10.2}  {max_in_flight:>13}  {:>10}",
                    flavour.label(),
                    shared::timing::human(usage.wall),
                    shared::timing::human(usage.cpu)
                );
                if n == 1000 {
                    verdicts.push((flavour.label(), pool, efficiency));
                }
            }
        }
    }
    for (flavour, pool, efficiency) in verdicts {
        let verdict = if efficiency >= TARGET_AT_1000 {
            "met"
        } else {
            "NOT met"
        };
        println!(
            "target efficiency >= {TARGET_AT_1000} at N = 1000, {flavour}, {pool}: {verdict} ({efficiency:.2})"
        );
    }
    Ok(())
}

/// One run of N concurrent requests: its usage and the server's highest count in flight.
fn run_once(
    runtime: &Runtime,
    flavour: Flavour,
    client: &Client,
    target: &Target,
    n: u64,
) -> anyhow::Result<(Usage, u64)> {
    target.reset();
    let watch = Stopwatch::start();
    match flavour {
        Flavour::OneThread => {
            let done = AtomicU64::new(0);
            runtime.block_on(concurrent(client, target.url(), n, None, &done))?;
        }
        Flavour::Spawned => runtime.block_on(spawned(client, target.url(), n))?,
    }
    Ok((watch.usage(), target.max_in_flight().unwrap_or(0)))
}

/// One task per request, so the runtime's worker threads share the work.
async fn spawned(client: &Client, url: &Url, n: u64) -> anyhow::Result<()> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { fetch(&client, &url).await })
        })
        .collect();
    for task in tasks {
        task.await.context("a request task failed")??;
    }
    Ok(())
}
