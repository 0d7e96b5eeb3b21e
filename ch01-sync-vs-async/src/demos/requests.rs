//! Section 1.1 (the book's listings 1.7 and 1.8): N slow requests made three ways.
//!
//! - `sequential_blocking`: `reqwest::blocking`, one after the other, no async anywhere;
//! - `sequential_async`: async reqwest, but each request awaited before the next starts, so it is
//!   still sequential: writing `async` alone buys nothing;
//! - `concurrent`: all N in flight at once (`join_all`) on ONE thread.
//!
//! The embedded server counts how many requests it is handling at once (`max_in_flight`), which
//! proves what the wall clock only suggests: 1, 1, then N.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use futures::future::join_all;
use reqwest::Url;
use shared::workloads::{Target, blocking_http_client, fetch, fetch_blocking, http_client};
use shared::{Measurement, Narrator, SpanKind, SpanRecorder, Stopwatch};

use crate::Sizes;
use crate::outcome::Outcome;

/// The demo's name in `--help` and `--json`.
pub const DEMO: &str = "requests";
/// The section of the notes it demonstrates.
pub const SECTION: &str = "1.1";

/// Measures the three legs and returns the report with one timeline per leg.
pub fn measure(sizes: &Sizes, url: Option<&Url>, narrator: &Narrator) -> anyhow::Result<Outcome> {
    let n = sizes.requests;
    // The sequential legs take N x D each; past the limit they run only the first K requests.
    let sequential_n = n.min(sizes.sequential_limit);
    let target = Target::new(url, sizes.delay_ms)?;
    // Each concurrent request holds a socket on the client side, and (locally) one on the server.
    let sockets_each = if target.is_local() { 2 } else { 1 };
    shared::fdlimit::ensure_available(n * sockets_each, &format!("{n} concurrent requests"))?;

    let mut outcome = Outcome::new(DEMO, SECTION);
    // One span per leg on a shared clock: the three legs' lengths side by side.
    let clock = SpanRecorder::new();

    if sequential_n < n {
        narrator.say(format!(
            "(the two sequential legs stop after {sequential_n} of {n} requests: all {n} would take \
             about {} each; --sequential-limit changes this)",
            shared::timing::human(Duration::from_millis(n * sizes.delay_ms))
        ));
    }
    // Leg 1 runs before any tokio runtime exists: reqwest::blocking must not live inside one.
    narrator.say(format!(
        "sequential_blocking: {sequential_n} requests with reqwest::blocking, each waits for the one before..."
    ));
    let client = blocking_http_client(target.url())?;
    let mut legs = Legs {
        outcome: &mut outcome,
        clock: &clock,
        target: &target,
        narrator,
    };
    legs.run(
        "sequential_blocking",
        "blocking, 1 by 1",
        sequential_n,
        |recorder, done| sequential_blocking(&client, target.url(), sequential_n, recorder, done),
    )?;
    drop(client);

    // A single-threaded runtime: like asyncio's event loop, one thread runs every task.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the tokio runtime")?;
    let client = http_client(target.url())?;

    legs.narrator.say(format!(
        "sequential_async: {sequential_n} requests with async reqwest, each awaited before the next..."
    ));
    legs.run(
        "sequential_async",
        "async, 1 by 1",
        sequential_n,
        |recorder, done| {
            runtime.block_on(sequential_async(
                &client,
                target.url(),
                sequential_n,
                recorder,
                done,
            ))
        },
    )?;

    legs.narrator.say(format!(
        "concurrent: {n} requests with async reqwest, all started before any is awaited..."
    ));
    legs.run("concurrent", "async, all at once", n, |recorder, done| {
        runtime.block_on(concurrent(&client, target.url(), n, Some(recorder), done))
    })?;

    outcome
        .spans
        .push(("the three legs on one clock".into(), clock.spans()));
    add_speedups(&mut outcome, n, sizes);
    if let Some(concurrent) = outcome.report.get_mut("concurrent") {
        let seen = concurrent.get("max_in_flight").unwrap_or(n as f64);
        if seen < n as f64 {
            concurrent.set_note(format!(
                "the server saw at most {seen:.0} of {n} at once: opening {n} connections took \
                 longer than one request's delay, so the first answers came back before the \
                 last requests were sent (a longer --delay-ms shows all {n} in flight)"
            ));
        }
    }
    if !target.is_local() {
        for m in &mut outcome.report.measurements {
            if m.note.is_none() {
                m.set_note("max_in_flight unknown: only the embedded server counts it");
            }
        }
    }
    Ok(outcome)
}

/// Runs the demo with its narration: header, progress, table, timelines, summary.
pub fn run(sizes: &Sizes, url: Option<&Url>, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "What is asyncio: sequential vs concurrent requests",
        &format!(
            "Waiting for {n} requests of {d} ms one after another takes about {n} x {d} ms, \
             and making the code async alone does not change that. Only having all of them \
             in flight at once brings it down to about {d} ms.",
            n = sizes.requests,
            d = sizes.delay_ms
        ),
    );
    let outcome = measure(sizes, url, narrator)?;
    outcome.print(narrator, None);
    narrator.summary(
        SECTION,
        &summary_lines(&outcome, sizes)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    Ok(())
}

/// Leg 1: a blocking client, one request after the other, on the calling thread.
pub fn sequential_blocking(
    client: &reqwest::blocking::Client,
    url: &Url,
    n: u64,
    recorder: &SpanRecorder,
    done: &AtomicU64,
) -> anyhow::Result<()> {
    for i in 0..n {
        recorder.in_span(format!("request {i}"), SpanKind::WaitIo, || {
            fetch_blocking(client, url)
        })?;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Leg 2: async code, but each request is awaited before the next one is even created.
pub async fn sequential_async(
    client: &reqwest::Client,
    url: &Url,
    n: u64,
    recorder: &SpanRecorder,
    done: &AtomicU64,
) -> anyhow::Result<()> {
    for i in 0..n {
        recorder
            .in_span_async(format!("request {i}"), SpanKind::WaitIo, fetch(client, url))
            .await?;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Leg 3: all N requests created first, then awaited together: they wait for the server at the
/// same time, on one thread. `recorder` is optional so the benchmark can measure without it.
pub async fn concurrent(
    client: &reqwest::Client,
    url: &Url,
    n: u64,
    recorder: Option<&SpanRecorder>,
    done: &AtomicU64,
) -> anyhow::Result<()> {
    let requests = (0..n).map(|i| async move {
        let result = match recorder {
            Some(recorder) => {
                recorder
                    .in_span_async(format!("request {i}"), SpanKind::WaitIo, fetch(client, url))
                    .await
            }
            None => fetch(client, url).await,
        };
        done.fetch_add(1, Ordering::Relaxed);
        result
    });
    for result in join_all(requests).await {
        result?;
    }
    Ok(())
}

/// Everything the three legs share: the report they add to, the clock that lines them up, the
/// server whose counters each leg resets, and the narrator that shows their progress.
struct Legs<'a> {
    outcome: &'a mut Outcome,
    clock: &'a SpanRecorder,
    target: &'a Target,
    narrator: &'a Narrator,
}

impl Legs<'_> {
    /// Runs one leg on fresh spans and a fresh server count, timed by the wall clock, and adds
    /// its measurement (with `max_in_flight` when the embedded server counted it).
    fn run(
        &mut self,
        name: &str,
        label_on_clock: &str,
        requests: u64,
        work: impl FnOnce(&SpanRecorder, &AtomicU64) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let recorder = SpanRecorder::new();
        let progress = self.narrator.progress(name, Some(requests));
        self.target.reset();
        let watch = Stopwatch::start();
        let on_clock = self.clock.start(label_on_clock, SpanKind::WaitIo);
        work(&recorder, &progress.counter())?;
        let wall = watch.elapsed();
        on_clock.end();
        drop(progress);

        let mut measurement = Measurement::new(name, wall).field("requests", requests as f64);
        if let Some(max) = self.target.max_in_flight() {
            measurement = measurement.field("max_in_flight", max as f64);
        }
        self.outcome.report.push(measurement);
        self.outcome
            .spans
            .push((name.to_string(), recorder.spans()));
        Ok(())
    }
}

/// speedup = time sequential_blocking needs for N requests / time this leg needs for N.
/// When a sequential leg ran fewer than N requests (the limit), its time per request is scaled
/// up to N, and a note says so.
fn add_speedups(outcome: &mut Outcome, n: u64, sizes: &Sizes) {
    let per_n = |m: &Measurement| {
        let made = m.get("requests").unwrap_or(n as f64).max(1.0);
        m.wall_ms * n as f64 / made
    };
    let Some(baseline) = outcome.report.get("sequential_blocking").map(per_n) else {
        return;
    };
    for m in &mut outcome.report.measurements {
        let this = per_n(m);
        if this > 0.0 {
            m.set("speedup", baseline / this);
        }
        m.set("ideal", n as f64);
        let made = m.get("requests").unwrap_or(n as f64) as u64;
        if made < n {
            let would_take = Duration::from_millis(n * sizes.delay_ms);
            m.set_note(format!(
                "ran {made} of {n} requests (--sequential-limit {}); all {n} would take about {}. \
                 speedup compares time per request x {n}",
                sizes.sequential_limit,
                shared::timing::human(would_take)
            ));
        }
    }
}

fn summary_lines(outcome: &Outcome, sizes: &Sizes) -> Vec<String> {
    let wall = |name| {
        outcome
            .field(name, "wall_ms")
            .map(shared::report::format_ms)
            .unwrap_or_else(|| "-".into())
    };
    let in_flight = |name| {
        outcome
            .field(name, "max_in_flight")
            .map(|v| format!("{v:.0}"))
            .unwrap_or_else(|| "unknown".into())
    };
    let speedup = outcome.field("concurrent", "speedup").unwrap_or(0.0);
    vec![
        format!(
            "Blocking requests one by one took {}; the server never saw more than {} at a time.",
            wall("sequential_blocking"),
            in_flight("sequential_blocking")
        ),
        format!(
            "The async version, awaiting each request in turn, took {} with {} in flight: \
             async code alone is still sequential.",
            wall("sequential_async"),
            in_flight("sequential_async")
        ),
        format!(
            "With all {} requests in flight at once ({} seen by the server) they took {}, \
             {speedup:.1}x faster (ideal {}x): concurrency is what lets us wait for many things at once.",
            sizes.requests,
            in_flight("concurrent"),
            wall("concurrent"),
            sizes.requests
        ),
    ]
}
