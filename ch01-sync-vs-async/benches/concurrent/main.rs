//! Section 1.1, measured at scale: N concurrent requests of D = 100 ms should take about D, not
//! N x D. `cargo bench -p ch01-sync-vs-async` times N = 10, 100 and 1,000 with criterion, then
//! prints efficiency = D / wall for every row, and at N = 1,000 how close reqwest comes to the
//! reference client. About a minute.
//!
//! The rows, each against the embedded slow server:
//! - `join_all_cold`: exactly the demo's `concurrent` leg: one thread, `join_all`, a fresh client,
//!   so opening the N connections is part of the time;
//! - `join_all_warm`: the same, with the client's N connections already open in its pool, as a
//!   long-running program would have them;
//! - `spawned_warm`: one `tokio::spawn`ed task per request on worker threads on every core;
//! - `raw_http1_warm`: a reference, not a contender: the least a client can do per request (see
//!   `raw_http1.rs`). What it loses is what the server and loopback TCP cost on these cores.

mod raw_http1;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use ch01_sync_vs_async::demos::requests::concurrent;
use criterion::{Criterion, SamplingMode, Throughput};
use reqwest::{Client, Url};
use shared::workloads::{Target, fetch, http_client};
use shared::{Stopwatch, Usage};
use tokio::runtime::{Builder, Runtime};

use raw_http1::WarmConnections;

const DELAY_MS: u64 = 100;
const SIZES: [u64; 3] = [10, 100, 1000];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Row {
    JoinAllCold,
    JoinAllWarm,
    SpawnedWarm,
    RawHttp1Warm,
}

impl Row {
    const ALL: [Row; 4] = [
        Row::JoinAllCold,
        Row::JoinAllWarm,
        Row::SpawnedWarm,
        Row::RawHttp1Warm,
    ];

    /// The criterion group's name, which `cargo bench -p ch01-sync-vs-async -- <name>` selects.
    fn id(self) -> &'static str {
        match self {
            Row::JoinAllCold => "join_all_cold",
            Row::JoinAllWarm => "join_all_warm",
            Row::SpawnedWarm => "spawned_warm",
            Row::RawHttp1Warm => "raw_http1_warm",
        }
    }

    fn is_reference(self) -> bool {
        self == Row::RawHttp1Warm
    }

    fn runtime(self) -> std::io::Result<Runtime> {
        match self {
            Row::SpawnedWarm => Builder::new_multi_thread().enable_all().build(),
            _ => Builder::new_current_thread().enable_all().build(),
        }
    }
}

/// One timed run: its wall and CPU time (client and embedded server together) and the most
/// requests the server saw at once, which shows the run really was concurrent.
struct Run {
    usage: Usage,
    max_in_flight: u64,
}

/// Every timed run, kept so that the efficiency table comes from the same runs criterion timed.
#[derive(Default)]
struct Tally(RefCell<BTreeMap<(Row, u64), Vec<Run>>>);

impl Tally {
    /// Times one run of `n` requests (the server's count reset first); records it and returns
    /// its wall time if it succeeded.
    fn time(
        &self,
        row: Row,
        n: u64,
        target: &Target,
        work: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<Duration> {
        target.reset();
        let watch = Stopwatch::start();
        work()?;
        let usage = watch.usage();
        let max_in_flight = target.max_in_flight().unwrap_or(0);
        self.0.borrow_mut().entry((row, n)).or_default().push(Run {
            usage,
            max_in_flight,
        });
        Ok(usage.wall)
    }
}

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let target = Target::new(None, DELAY_MS)?;
    // Each of the N connections is a socket on both ends, client and server, in this process.
    shared::fdlimit::ensure_available(2 * SIZES[2] + 64, "1000 concurrent requests")?;
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let tally = Tally::default();
    for row in Row::ALL {
        bench_row(&mut criterion, row, &target, &tally)?;
    }
    criterion.final_summary();
    print_efficiency(&tally);
    Ok(())
}

/// One criterion group per row, one benchmark per N. Set-up (a client, open connections)
/// happens inside the benchmark, so a filter that skips it also skips its set-up.
fn bench_row(c: &mut Criterion, row: Row, target: &Target, tally: &Tally) -> anyhow::Result<()> {
    let mut group = c.benchmark_group(row.id());
    // Every iteration takes at least D: sample the same way each time instead of 1, 2, 3... runs.
    group.sampling_mode(SamplingMode::Flat);
    let runtime = row.runtime()?;
    let url = target.url();
    for n in SIZES {
        group.throughput(Throughput::Elements(n));
        let id = n.to_string();
        match row {
            Row::JoinAllCold => {
                group.bench_function(id, |b| {
                    b.iter_custom(|iterations| {
                        (0..iterations)
                            .map(|_| {
                                let client = or_exit(http_client(url), row, n);
                                let wall = tally.time(row, n, target, || {
                                    runtime.block_on(join_all_requests(&client, url, n))
                                });
                                // Closing the N connections is not part of the run; it happens
                                // in the runtime that owns them.
                                let _inside = runtime.enter();
                                drop(client);
                                or_exit(wall, row, n)
                            })
                            .sum()
                    })
                });
            }
            Row::JoinAllWarm | Row::SpawnedWarm => {
                let send = |client: &Client| match row {
                    Row::SpawnedWarm => runtime.block_on(spawned_requests(client, url, n)),
                    _ => runtime.block_on(join_all_requests(client, url, n)),
                };
                let mut warm_client = None;
                group.bench_function(id, |b| {
                    let client = warm_client.get_or_insert_with(|| {
                        let client = or_exit(http_client(url), row, n);
                        // Untimed: opens the N connections the timed runs reuse.
                        or_exit(send(&client), row, n);
                        client
                    });
                    b.iter_custom(|iterations| {
                        (0..iterations)
                            .map(|_| or_exit(tally.time(row, n, target, || send(client)), row, n))
                            .sum()
                    })
                });
                let _inside = runtime.enter();
                drop(warm_client);
            }
            Row::RawHttp1Warm => {
                let server = target
                    .server()
                    .context("the reference row needs the embedded server")?;
                let (addr, host, path) = (server.addr(), server.addr().to_string(), url.path());
                let mut warm_connections = None;
                group.bench_function(id, |b| {
                    let connections = warm_connections.get_or_insert_with(|| {
                        let mut connections =
                            or_exit(runtime.block_on(WarmConnections::open(addr, n)), row, n);
                        // Untimed, like the pool above: the first answers on each connection.
                        or_exit(
                            runtime.block_on(connections.get_on_each(&host, path)),
                            row,
                            n,
                        );
                        connections
                    });
                    b.iter_custom(|iterations| {
                        (0..iterations)
                            .map(|_| {
                                let run = tally.time(row, n, target, || {
                                    runtime.block_on(connections.get_on_each(&host, path))
                                });
                                or_exit(run, row, n)
                            })
                            .sum()
                    })
                });
                let _inside = runtime.enter();
                drop(warm_connections);
            }
        }
    }
    group.finish();
    Ok(())
}

/// A failed run ends the bench with a one-line error: a table with a failed run in it would
/// measure something else.
fn or_exit<T>(result: anyhow::Result<T>, row: Row, n: u64) -> T {
    result.unwrap_or_else(|error| {
        eprintln!("error: {} with N = {n}: {error:#}", row.id());
        std::process::exit(1)
    })
}

/// The demo's `concurrent` leg: all N futures in one `join_all` on the current thread.
async fn join_all_requests(client: &Client, url: &Url, n: u64) -> anyhow::Result<()> {
    concurrent(client, url, n).await.map(drop)
}

/// One task per request, so the runtime's worker threads share the work.
async fn spawned_requests(client: &Client, url: &Url, n: u64) -> anyhow::Result<()> {
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

/// The table this bench exists for: efficiency per row and N from the median timed run.
fn print_efficiency(tally: &Tally) {
    let ideal = Duration::from_millis(DELAY_MS).as_secs_f64();
    let runs = tally.0.borrow();
    if runs.is_empty() {
        return;
    }
    println!();
    println!(
        "efficiency = D / wall with D = {DELAY_MS} ms (1.0 is ideal); wall = the median run, criterion's warm-up runs included"
    );
    println!("cpu = client and embedded server together, per request");
    println!(
        "{:<16}  {:>5}  {:>4}  {:>10}  {:>10}  {:>13}  {:>12}",
        "row", "N", "runs", "wall", "efficiency", "max_in_flight", "cpu/request"
    );
    let mut at_1000 = Vec::new();
    for ((row, n), runs) in runs.iter() {
        let mut usages: Vec<_> = runs.iter().map(|run| run.usage).collect();
        usages.sort_by_key(|usage| usage.wall);
        let median = usages[usages.len() / 2];
        let efficiency = ideal / median.wall.as_secs_f64();
        let fewest_in_flight = runs.iter().map(|run| run.max_in_flight).min().unwrap_or(0);
        println!(
            "{:<16}  {n:>5}  {:>4}  {:>10}  {efficiency:>10.2}  {fewest_in_flight:>13}  {:>12}",
            row.id(),
            runs.len(),
            shared::timing::human(median.wall),
            shared::timing::human(median.cpu / *n as u32),
        );
        if *n == SIZES[2] {
            at_1000.push((*row, efficiency));
        }
    }
    println!(
        "(max_in_flight: the lowest of the runs; N means every run had all N requests in flight)"
    );
    // On 2 cores even a client that does almost nothing reaches only about 0.8 against the
    // embedded server, so reqwest is set beside that reference in the same run: what it loses
    // next to it is reqwest's own cost.
    let Some(reference) = at_1000
        .iter()
        .find(|(row, _)| row.is_reference())
        .map(|(_, e)| *e)
    else {
        return;
    };
    println!();
    println!(
        "at N = 1000, efficiency relative to {} (the least a client can do on these cores):",
        Row::RawHttp1Warm.id()
    );
    for (row, efficiency) in at_1000.iter().filter(|(row, _)| !row.is_reference()) {
        let relative = efficiency / reference;
        let meaning = match (*row == Row::JoinAllCold, relative < 1.0) {
            (true, _) => "cold: opening the 1,000 connections is part of its time".to_string(),
            (false, true) => format!(
                "reqwest's own work cost {:.0}% of the reference's efficiency",
                (1.0 - relative) * 100.0
            ),
            (false, false) => "reqwest's own work cost nothing measurable next to it".to_string(),
        };
        println!(
            "{:<16}  {efficiency:.2} / {reference:.2} = {relative:.2}x  ({meaning})",
            row.id()
        );
    }
}
