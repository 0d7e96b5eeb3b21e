//! Section 1.7, demo `requests`: N HTTP GETs written by hand on the loop's own non-blocking
//! sockets, all in flight at once on one thread, then the same workload on tokio + reqwest.
//! If the loop works as the notes say, N requests of delay D take about D, not N x D.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use shared::legacy::report::{DemoReport, Measurement};
use shared::legacy::{Narrator, SpanKind, SpanRecorder};
use shared::workloads::{Target, fetch, http_client};
use shared::{Stopwatch, fdlimit};

use crate::cli::Sizes;
use crate::event_loop::{EventLoop, spawn};
use crate::http::{self, Request};
use crate::observe::{self, Counts};

/// The demo's name in `--help` and `--json`.
pub const NAME: &str = "requests";
const HAND_BUILT_ROW: &str = "hand-built loop";
const TOKIO_ROW: &str = "tokio + reqwest";

/// What one runtime did with the batch.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// From the first request made to the last answer read.
    pub wall: Duration,
    /// The most requests the embedded server had in flight at once (`None` with `--url`).
    pub max_in_flight: Option<u64>,
    /// The hand-built loop's counters (zero for tokio).
    pub counts: Counts,
}

impl Row {
    fn measurement(&self, name: &str) -> Measurement {
        let mut measurement = Measurement::new(name, self.wall);
        if name == "hand_built" {
            measurement.set("iterations", self.counts.iterations as f64);
            measurement.set("polls", self.counts.polls as f64);
            measurement.set("wakeups", self.counts.wakeups as f64);
            measurement.set("io_events", self.counts.io_events as f64);
        }
        if let Some(max) = self.max_in_flight {
            measurement.set("max_in_flight", max as f64);
        }
        measurement
    }
}

/// What the demo measured on each runtime.
#[derive(Debug, Clone)]
pub struct Requests {
    /// The hand-built loop's row.
    pub hand_built: Row,
    /// tokio + reqwest's row.
    pub tokio: Row,
}

/// Runs the demo, prints its report, and returns what it measured.
pub fn run(
    narrator: &Narrator,
    sizes: &Sizes,
    url: Option<&reqwest::Url>,
) -> anyhow::Result<Requests> {
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
    let recorder = Arc::new(SpanRecorder::new());
    let Requests { hand_built, tokio } = measure(narrator, sizes, url, &recorder)?;

    let mut report = DemoReport::new(NAME, "1.7");
    report.push(hand_built.measurement("hand_built"));
    report.push(tokio.measurement("tokio"));
    narrator.report(&report, Some("tokio"));
    narrator.timeline(
        &format!("{n} requests per row, each a span from connect to last byte"),
        &recorder.spans(),
    );
    let hand_ms = hand_built.wall.as_secs_f64() * 1e3;
    let iterations = hand_built.counts.iterations;
    let ratio = hand_built.wall.as_secs_f64() / tokio.wall.as_secs_f64();
    narrator.summary(
        "1.7",
        &[
            &format!(
                "The hand-built loop finished {n} requests in {hand_ms:.0} ms with only \
                 {iterations:.0} iterations: each iteration ran every ready task until it hit I/O, \
                 then slept in the OS until sockets were ready."
            ),
            "The server saw the requests in flight together: one thread, many waits at once.",
            &format!(
                "hand-built / tokio wall time: {ratio:.2}x. tokio does the same thing with the \
                 same OS tools (epoll via mio), only more polished."
            ),
        ],
    );
    Ok(Requests { hand_built, tokio })
}

/// Both rows, hand-built loop first, each request recorded as a span in `recorder`.
pub fn measure(
    narrator: &Narrator,
    sizes: &Sizes,
    url: Option<&reqwest::Url>,
    recorder: &Arc<SpanRecorder>,
) -> anyhow::Result<Requests> {
    let n = sizes.requests;
    // Each request needs a socket here and one in the embedded server.
    fdlimit::ensure_available(2 * n + 64, &format!("{n} concurrent requests"))?;
    let target = Target::new(url, sizes.delay_ms)?;
    let hand_built = hand_built(narrator, sizes, &target, recorder)?;
    let tokio = with_tokio(narrator, n, &target, recorder)?;
    Ok(Requests { hand_built, tokio })
}

fn hand_built(
    narrator: &Narrator,
    sizes: &Sizes,
    target: &Target,
    recorder: &Arc<SpanRecorder>,
) -> anyhow::Result<Row> {
    let n = sizes.requests;
    let request = Rc::new(Request::from_url(target.url())?);
    narrator.say(format!(
        "hand-built loop: {n} GET {} on our own sockets ...",
        target.url()
    ));
    target.reset();
    let (stats, _watching) = observe::watch(sizes.trace);
    let event_loop = EventLoop::new()?;
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
    Ok(Row {
        wall,
        max_in_flight: target.max_in_flight(),
        counts: stats.get(),
    })
}

fn with_tokio(
    narrator: &Narrator,
    n: u64,
    target: &Target,
    recorder: &Arc<SpanRecorder>,
) -> anyhow::Result<Row> {
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
    Ok(Row {
        wall,
        max_in_flight: target.max_in_flight(),
        counts: Counts::default(),
    })
}
