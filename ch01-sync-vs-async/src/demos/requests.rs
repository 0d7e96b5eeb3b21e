//! Section 1.1: "in a synchronous application, code runs sequentially"; concurrency lets many
//! web requests be made at the same time. N slow requests, made three ways.

use futures::future::join_all;
use reqwest::{Client, Url, blocking};
use serde::Serialize;
use shared::timing::{human, human_ms, ms, ratio};
use shared::trace::named;
use shared::workloads::{Target, blocking_http_client, fetch, fetch_blocking, http_client};
use shared::{Narrator, Report, Span, python::Script};
use tracing::{Instrument as _, info_span};

use crate::Sizes;

// ---- the lesson: the same N requests, three ways ----

/// The book's listing 1.7 (synchronously reading status codes): each `get` returns only when
/// its answer is in, so the next request waits for the one before.
pub fn sequential_blocking(http: &blocking::Client, url: &Url, n: u64) -> anyhow::Result<Vec<u16>> {
    (0..n)
        .map(|i| info_span!("request", i).in_scope(|| fetch_blocking(http, url)))
        .collect()
}

/// Listing 1.7 with `async`/`await`: still one request at a time, because each is awaited before
/// the next is even created. Writing `async` alone buys nothing.
pub async fn sequential_async(client: &Client, url: &Url, n: u64) -> anyhow::Result<Vec<u16>> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let request = fetch(client, url).instrument(info_span!("request", i));
        statuses.push(request.await?);
    }
    Ok(statuses)
}

/// `asyncio.gather`: create all N requests, then await them together. They wait for the server
/// at the same time, on one thread.
pub async fn concurrent(client: &Client, url: &Url, n: u64) -> anyhow::Result<Vec<u16>> {
    let requests = (0..n).map(|i| fetch(client, url).instrument(info_span!("request", i)));
    join_all(requests).await.into_iter().collect()
}

/// The same three legs in CPython, listing 1.7 first: `requests.py` beside this file.
pub const PYTHON: Script = Script::new("requests.py", include_str!("requests.py"));

// ---- measuring it: each leg timed, its spans recorded, the server's count read ----

const DEMO: &str = "requests";
const SECTION: &str = "1.1";

/// One way of making the requests, measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Leg {
    /// `sequential_blocking`, `sequential_async` or `concurrent` (or a CPython leg).
    pub name: &'static str,
    /// Wall time of the whole leg.
    pub wall_ms: f64,
    /// Requests made (fewer than N for a sequential leg past `--sequential-limit`).
    pub requests: u64,
    /// The most requests the embedded server handled at once (unknown for a `--url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
    /// Time `sequential_blocking` needs for N requests / time this leg needs for N.
    pub speedup: f64,
    /// The most overlapping N waits can give: N.
    pub ideal: u64,
    /// What a reader should know about this row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// One `leg` span, and one `request` span per request.
    #[serde(skip)]
    pub spans: Vec<Span>,
}

impl Leg {
    /// The `request` spans of this leg, in the order they opened.
    pub fn requests(&self) -> Vec<Span> {
        named(&self.spans, "request").into_iter().cloned().collect()
    }
}

/// Makes the requests three ways against the embedded server (or `sizes.url`), then in CPython.
pub fn measure(sizes: &Sizes) -> anyhow::Result<Vec<Leg>> {
    let n = sizes.requests;
    // The sequential legs take N x D each; past the limit they make only the first K.
    let k = n.min(sizes.sequential_limit);
    let target = Target::new(sizes.url.as_ref(), sizes.delay_ms)?;
    // Each concurrent request holds a socket on the client side, and (locally) one on the server.
    let sockets = if target.is_local() { 2 * n } else { n };
    shared::fdlimit::ensure_available(sockets, &format!("{n} concurrent requests"))?;
    let url = target.url();
    let finish = |name, requests, spans: Vec<Span>| {
        let wall = named(&spans, "leg").first().map(|leg| leg.wall());
        Leg {
            name,
            wall_ms: ms(wall.unwrap_or_default()),
            requests,
            max_in_flight: target.max_in_flight(),
            ideal: n,
            spans,
            ..Leg::default()
        }
    };
    let leg = |name, requests, work: &dyn Fn() -> anyhow::Result<Vec<u16>>| {
        target.reset();
        let in_leg = || info_span!("leg", name).in_scope(work);
        let (done, spans) = shared::narrate::record(name, "request", Some(requests), in_leg);
        done.map(|_| finish(name, requests, spans))
    };
    // Before any tokio runtime exists: reqwest::blocking must not live inside one.
    let client = blocking_http_client(url)?;
    let blocking = || sequential_blocking(&client, url, k);
    let mut legs = vec![leg("sequential_blocking", k, &blocking)?];
    drop(client);
    let runtime = crate::demos::event_loop()?;
    let client = http_client(url)?;
    let one_by_one = || runtime.block_on(sequential_async(&client, url, k));
    legs.push(leg("sequential_async", k, &one_by_one)?);
    let all_at_once = || runtime.block_on(concurrent(&client, url, n));
    legs.push(leg("concurrent", n, &all_at_once)?);
    if let Some(py) = shared::narrate::python() {
        let names = ["python_blocking", "asyncio_sequential", "asyncio_gather"];
        for (name, requests) in names.into_iter().zip([k, k, n]) {
            target.reset();
            let args = [name.to_string(), url.to_string(), requests.to_string()];
            let finished = py.run::<Vec<u16>>(&PYTHON, &args)?;
            legs.push(finish(name, requests, finished.spans));
        }
    }
    // Time per request x N (a sequential leg may stop early), against the blocking leg's.
    let per_n = |leg: &Leg| leg.wall_ms * n as f64 / leg.requests as f64;
    let baseline = per_n(&legs[0]);
    for leg in &mut legs {
        leg.speedup = ratio(baseline, per_n(leg));
        leg.note = note(leg, sizes);
    }
    Ok(legs)
}

/// Why a leg's numbers are what they are, when that needs saying.
fn note(leg: &Leg, sizes: &Sizes) -> Option<String> {
    let (n, ran, limit) = (sizes.requests, leg.requests, sizes.sequential_limit);
    let all_at_once = ["concurrent", "asyncio_gather"].contains(&leg.name);
    let all_take = human(std::time::Duration::from_millis(n * sizes.delay_ms));
    Some(match leg.max_in_flight {
        _ if ran < n => format!(
            "ran {ran} of {n} requests (--sequential-limit {limit}); all {n} would take about \
             {all_take}. speedup compares time per request x {n}"
        ),
        None => "max_in_flight unknown: only the embedded server counts it".into(),
        Some(seen) if all_at_once && seen < n => format!(
            "the server saw at most {seen} of {n} at once: the first answers came back before \
             the last requests were sent (a longer --delay-ms shows all {n} in flight)"
        ),
        Some(_) => return None,
    })
}

/// Runs the demo with its narration: header, progress, table, timelines, summary.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    let (n, d) = (sizes.requests, sizes.delay_ms);
    let claim = format!(
        "Waiting for {n} requests of {d} ms one after another takes about {n} x {d} ms, and \
         making the code async alone does not change that. Only having all of them in flight at \
         once brings it down to about {d} ms."
    );
    let title = "What is asyncio: sequential vs concurrent requests";
    narrator.header(SECTION, title, &claim);
    let legs = measure(sizes)?;
    narrator.report(&Report::new(DEMO, SECTION, legs.iter().collect()));
    let mut on_one_clock = Vec::new();
    for leg in &legs {
        narrator.timeline(leg.name, &leg.requests());
        on_one_clock.extend(named(&leg.spans, "leg").into_iter().cloned());
    }
    narrator.timeline("every leg on one clock", &on_one_clock);
    let took = |leg: &Leg| {
        let seen = (leg.max_in_flight).map_or("unknown".into(), |m| m.to_string());
        format!("took {}, {seen} in flight at most", human_ms(leg.wall_ms))
    };
    let [blocking, one_by_one, all] = [0, 1, 2].map(|i| took(&legs[i]));
    let faster = match legs[2].speedup {
        x if x >= 1.05 => format!("{x:.1}x faster"),
        x => format!("no faster ({x:.2}x)"),
    };
    let mut summary = vec![
        format!("Blocking requests one by one {blocking}."),
        format!("Async, awaiting each in turn, {one_by_one}: async alone is still sequential."),
        format!(
            "All {n} at once (join_all) {all}: {faster} (ideal {n}x), on one thread. \
             Concurrency lets us wait for many things at the same time."
        ),
    ];
    if let [blocking, sequential, gather] = &legs[3..] {
        let [blocking, sequential, gather] = [blocking, sequential, gather].map(took);
        summary.push(format!(
            "CPython: listing 1.7 with http.client {blocking}; asyncio awaiting each \
             {sequential}; asyncio.gather {gather}: the same lesson in the book's own language."
        ));
    }
    narrator.summary(SECTION, &summary);
    Ok(())
}
