//! Section 1.7, demo `requests`: N HTTP GETs written by hand on the loop's own non-blocking
//! sockets, all in flight at once on one thread, then the same workload on tokio + reqwest.
//! If the loop works as the notes say, N requests of delay D take about D, not N x D.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context as _, bail};
use shared::legacy::report::{DemoReport, Measurement};
use shared::legacy::{Narrator, SpanKind, SpanRecorder};
use shared::workloads::{Target, fetch, http_client};
use shared::{Stopwatch, fdlimit};

use crate::cli::Sizes;
use crate::event_loop::{EventLoop, spawn};
use crate::http::{self, Request};

/// The demo's name in `--help` and `--json`.
pub const NAME: &str = "requests";
const HAND_BUILT_ROW: &str = "hand-built loop";
const TOKIO_ROW: &str = "tokio + reqwest";

/// Runs the demo and prints its report.
pub fn run(narrator: &Narrator, sizes: &Sizes, url: Option<&reqwest::Url>) -> anyhow::Result<()> {
    let n = sizes.requests;
    narrator.header(
        "1.7",
        "How an event loop works: many requests on one thread",
        &format!(
            "One thread, one loop: {n} requests that each wait {} ms on the server all wait at \
             the same time, so the batch takes about one delay, not {n} of them.",
            sizes.delay_ms
        ),
    );
    // Each request needs a socket here and one in the embedded server.
    fdlimit::ensure_available(2 * n + 64, &format!("{n} concurrent requests"))?;
    let target = Target::new(url, sizes.delay_ms)?;
    let recorder = Arc::new(SpanRecorder::new());

    let hand_built = hand_built(narrator, sizes, &target, &recorder)?;
    let tokio = with_tokio(narrator, n, &target, &recorder)?;

    let mut report = DemoReport::new(NAME, "1.7");
    report.push(hand_built);
    report.push(tokio);
    narrator.report(&report, Some("tokio"));
    narrator.timeline(
        &format!("{n} requests per row, each a span from connect to last byte"),
        &recorder.spans(),
    );
    let hand_ms = report.get("hand_built").map_or(0.0, |m| m.wall_ms);
    let iterations = report
        .get("hand_built")
        .and_then(|m| m.get("iterations"))
        .unwrap_or(0.0);
    narrator.summary(
        "1.7",
        &[
            &format!(
                "The hand-built loop finished {n} requests in {hand_ms:.0} ms with only \
                 {iterations:.0} iterations: each iteration ran every ready task until it hit I/O, \
                 then slept in the OS until sockets were ready."
            ),
            "The server saw the requests in flight together: one thread, many waits at once.",
            "tokio does the same thing with the same OS tools (epoll via mio), only more polished.",
        ],
    );
    Ok(())
}

fn hand_built(
    narrator: &Narrator,
    sizes: &Sizes,
    target: &Target,
    recorder: &Arc<SpanRecorder>,
) -> anyhow::Result<Measurement> {
    let n = sizes.requests;
    let request = Rc::new(Request::from_url(target.url())?);
    narrator.say(format!(
        "hand-built loop: {n} GET {} on our own sockets ...",
        target.url()
    ));
    target.reset();
    let event_loop = EventLoop::new()?.print_trace(sizes.trace);
    let progress = narrator.progress("hand-built loop: requests", Some(n));
    let stopwatch = Stopwatch::start();
    let results = event_loop.block_on(async {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let request = Rc::clone(&request);
                let recorder = Arc::clone(recorder);
                let done = progress.counter();
                spawn(async move {
                    let started = Instant::now();
                    let status = http::get(&request).await;
                    recorder.record(HAND_BUILT_ROW, SpanKind::WaitIo, started, Instant::now());
                    done.fetch_add(1, Ordering::Relaxed);
                    status
                })
            })
            .collect();
        futures::future::join_all(handles).await
    });
    let wall = stopwatch.elapsed();
    drop(progress);
    for result in results {
        let status = result
            .map_err(anyhow::Error::from)
            .and_then(|status| status)
            .context("a hand-built request failed")?;
        if !(200..300).contains(&status) {
            bail!("a hand-built request got HTTP status {status}");
        }
    }
    let stats = event_loop.stats();
    let mut measurement = Measurement::new("hand_built", wall)
        .field("iterations", stats.iterations as f64)
        .field("polls", stats.polls as f64)
        .field("wakeups", stats.wakeups as f64)
        .field("io_events", stats.io_events as f64);
    if let Some(max) = target.max_in_flight() {
        measurement.set("max_in_flight", max as f64);
    }
    Ok(measurement)
}

fn with_tokio(
    narrator: &Narrator,
    n: u64,
    target: &Target,
    recorder: &Arc<SpanRecorder>,
) -> anyhow::Result<Measurement> {
    narrator.say(format!(
        "tokio (current-thread) + reqwest: the same {n} GETs ..."
    ));
    target.reset();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start a tokio runtime")?;
    let client = http_client(target.url())?;
    let progress = narrator.progress("tokio: requests", Some(n));
    let stopwatch = Stopwatch::start();
    let results = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let client = client.clone();
            let url = target.url().clone();
            let recorder = Arc::clone(recorder);
            let done = progress.counter();
            tasks.spawn(async move {
                let started = Instant::now();
                let status = fetch(&client, &url).await;
                recorder.record(TOKIO_ROW, SpanKind::WaitIo, started, Instant::now());
                done.fetch_add(1, Ordering::Relaxed);
                status
            });
        }
        tasks.join_all().await
    });
    let wall = stopwatch.elapsed();
    drop(progress);
    for status in results {
        let status = status?;
        if !(200..300).contains(&status) {
            bail!("a tokio request got HTTP status {status}");
        }
    }
    let mut measurement = Measurement::new("tokio", wall);
    if let Some(max) = target.max_in_flight() {
        measurement.set("max_in_flight", max as f64);
    }
    Ok(measurement)
}
