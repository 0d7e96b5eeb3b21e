//! Section 1.7, demo `requests`: N HTTP GETs written by hand on the loop's own non-blocking
//! sockets, all in flight at once on one thread, then the same workload on tokio + reqwest.
//! If the loop works as the notes say, N requests of delay D take about D, not N x D.

use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use shared::narrate::plural;
use shared::python::Script;
use shared::timing::{human_ms, ms};
use shared::workloads::{Target, fetch, http_client};
use shared::{Narrator, Stopwatch, fdlimit};
use tracing::{Instrument as _, info_span};

use super::{SECTION, VsTokio, tokio_runtime};
use crate::cli::Sizes;
use crate::event_loop::{EventLoop, spawn};
use crate::http::{self, Request};
use crate::observe::{self, Counts};

// ---- the lesson: N requests at once, as tasks on one loop ----

/// asyncio's `gather(*[create_task(get(url)) for _ in range(n)])` on the hand-built loop: every
/// request is a task, so all of them wait on the server at the same time. Run it with
/// [`EventLoop::block_on`](crate::event_loop::EventLoop::block_on). Returns each HTTP status.
pub async fn hand_built_requests(request: Rc<Request>, n: u64) -> anyhow::Result<Vec<u16>> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let request = Rc::clone(&request);
            // Each request is a span, named after its runtime: one timeline row per runtime.
            let request = async move { http::get(&request).await };
            spawn(request.instrument(info_span!("hand-built loop")))
        })
        .collect();
    let joined = futures::future::join_all(handles).await;
    joined.into_iter().map(|status| status?).collect()
}

/// The same on tokio with reqwest: one spawned task per request (`JoinSet`).
pub async fn tokio_requests(client: reqwest::Client, url: Url, n: u64) -> anyhow::Result<Vec<u16>> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, url) = (client.clone(), url.clone());
        let request = async move { fetch(&client, &url).await };
        tasks.spawn(request.instrument(info_span!("tokio + reqwest")));
    }
    tasks.join_all().await.into_iter().collect()
}

// ---- measuring it ----

/// asyncio's own loop doing the same (`requests.py`): raw HTTP/1.1 over `open_connection`.
const ASYNCIO: Script = Script::new("requests.py", include_str!("requests.py"));

/// What one runtime did with the batch, as the report and `--json` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `hand_built`, `tokio` or `asyncio`.
    pub name: &'static str,
    /// From the first request made to the last answer read.
    #[serde(rename = "wall_ms", serialize_with = "shared::report::as_ms")]
    pub wall: Duration,
    /// The hand-built loop's counters (`None` for the others).
    #[serde(flatten)]
    pub counts: Option<Counts>,
    /// The most requests the embedded server had in flight at once (`None` with `--url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
}

/// What the demo measured on each runtime.
pub type Requests = VsTokio<Row>;

/// What `requests.py` answers.
#[derive(Deserialize)]
struct Answer {
    wall_ms: f64,
    statuses: Vec<u16>,
}

/// Runs the demo and prints its report.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    let n = sizes.requests;
    let requests = plural(n, "request", "requests");
    narrator.header(
        SECTION,
        "How an event loop works: many requests on one thread",
        &format!(
            "One thread, one loop: {requests} that each wait {} ms on the server all wait at \
             the same time, so the batch takes about one delay, not {n} of them.",
            sizes.delay_ms
        ),
    );
    let what = format!("{n} GETs on the hand-built loop, then on tokio + reqwest");
    let (measured, spans) = shared::narrate::record(&what, "", None, || measure(sizes));
    let measured = measured?;
    let title = format!("{requests} per row, each a span from connect to last byte");
    measured.report(narrator, "requests", (&title, spans));
    let (hand_built, tokio) = (&measured.hand_built, &measured.tokio);
    let iterations = hand_built.counts.as_ref().map_or(0, |c| c.iterations);
    let mut summary = vec![
        format!(
            "The hand-built loop finished {requests} in {} with only {}: each iteration ran \
             every ready task until it hit I/O, then slept in the OS until sockets were ready.",
            human_ms(ms(hand_built.wall)),
            plural(iterations, "iteration", "iterations")
        ),
        format!(
            "hand-built / tokio wall time: {:.2}x. tokio does the same thing with the same OS \
             tools (epoll via mio), only more polished.",
            hand_built.wall.as_secs_f64() / tokio.wall.as_secs_f64()
        ),
    ];
    summary.extend(hand_built.max_in_flight.map(|max| {
        format!("Requests in flight at once at the server, at most: {max}. One thread, many waits.")
    }));
    summary.extend(measured.asyncio.as_ref().map(|asyncio| {
        format!(
            "asyncio's own loop took {} for the same batch: the same ready queue, the same \
             wait in the OS (its selectors module), so the same one delay, in Python.",
            human_ms(ms(asyncio.wall))
        )
    }));
    narrator.summary(SECTION, &summary);
    Ok(())
}

/// Both rows, hand-built loop first, each request a span; then asyncio's when Python runs.
pub fn measure(sizes: &Sizes) -> anyhow::Result<Requests> {
    let n = sizes.requests;
    // Each request needs a socket here and one in the embedded server.
    fdlimit::ensure_available(2 * n + 64, &format!("{n} concurrent requests"))?;
    let target = Target::new(sizes.url.as_ref(), sizes.delay_ms)?;
    let url = target.url();
    // A row, once every request of the runtime got a 2xx answer.
    let row = |statuses: anyhow::Result<Vec<u16>>, wall, counts, name: &'static str| {
        let runtime = name.replace('_', "-");
        let statuses = statuses.with_context(|| format!("a {runtime} request failed"))?;
        if let Some(status) = statuses.iter().find(|status| !(200..300).contains(*status)) {
            bail!("a {runtime} request got HTTP status {status}");
        }
        anyhow::Ok(Row {
            name,
            wall,
            counts,
            max_in_flight: target.max_in_flight(),
        })
    };

    let request = Rc::new(Request::from_url(url)?);
    target.reset();
    let (event_loop, stopwatch) = (EventLoop::new()?, Stopwatch::start());
    let (statuses, counts) = observe::counted(sizes.trace, || {
        event_loop.block_on(hand_built_requests(request, n))
    });
    let hand_built = row(statuses, stopwatch.elapsed(), Some(counts), "hand_built")?;

    target.reset();
    let (runtime, client) = (tokio_runtime()?, http_client(url)?);
    let stopwatch = Stopwatch::start();
    let statuses = runtime.block_on(tokio_requests(client, url.clone(), n));
    let tokio = row(statuses, stopwatch.elapsed(), None, "tokio")?;

    let asyncio = shared::narrate::python().map(|python| {
        target.reset();
        let port = url.port_or_known_default().unwrap_or(80).to_string();
        let host = url.host_str().unwrap_or("127.0.0.1");
        let args = [url.scheme(), host, &port, url.path(), &n.to_string()].map(String::from);
        let finished = python.run::<Answer>(&ASYNCIO, &args)?;
        let Answer { wall_ms, statuses } = finished.result;
        let wall = Duration::from_secs_f64(wall_ms / 1e3);
        anyhow::Ok((row(Ok(statuses), wall, None, "asyncio")?, finished.spans))
    });
    Ok(VsTokio::new(hand_built, tokio, asyncio.transpose()?))
}
