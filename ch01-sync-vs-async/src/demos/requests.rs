//! Section 1.1: "in a synchronous application, code runs sequentially"; concurrency lets many
//! web requests be made at the same time. N slow requests, made three ways.

use futures::future::join_all;
use reqwest::Url;
use shared::workloads::{fetch, fetch_blocking};
use tracing::{Instrument as _, info_span};

// ---- the lesson: the same N requests, three ways ----

/// The book's listing 1.7 (synchronously reading status codes): each `get` returns only when
/// its answer is in, so the next request waits for the one before.
pub fn sequential_blocking(
    client: &reqwest::blocking::Client,
    url: &Url,
    n: u64,
) -> anyhow::Result<Vec<u16>> {
    (0..n)
        .map(|i| info_span!("request", i).in_scope(|| fetch_blocking(client, url)))
        .collect()
}

/// Listing 1.7 with `async`/`await`: still one request at a time, because each is awaited before
/// the next is even created. Writing `async` alone buys nothing.
pub async fn sequential_async(
    client: &reqwest::Client,
    url: &Url,
    n: u64,
) -> anyhow::Result<Vec<u16>> {
    let mut statuses = Vec::new();
    for i in 0..n {
        statuses.push(
            fetch(client, url)
                .instrument(info_span!("request", i))
                .await?,
        );
    }
    Ok(statuses)
}

/// `asyncio.gather`: create all N requests, then await them together. They wait for the server
/// at the same time, on one thread.
pub async fn concurrent(client: &reqwest::Client, url: &Url, n: u64) -> anyhow::Result<Vec<u16>> {
    let requests = (0..n).map(|i| fetch(client, url).instrument(info_span!("request", i)));
    join_all(requests).await.into_iter().collect()
}

/// The same three legs in CPython, listing 1.7 first: `requests.py` beside this file.
pub const PYTHON: shared::python::Script =
    shared::python::Script::new("requests.py", include_str!("requests.py"));

// ---- measuring it: each leg timed, its spans recorded, the server's count read ----

pub use measuring::{DEMO, Leg, Requests, measure, run};

mod measuring {
    use std::time::Duration;

    use anyhow::Context as _;
    use serde::Serialize;
    use shared::timing::{human, human_ms, ms, ratio};
    use shared::workloads::{Target, blocking_http_client, http_client};
    use shared::{Narrator, Report, Span};
    use tracing::info_span;

    use crate::Sizes;

    /// The demo's name in `--help` and `--json`, and the section of the notes.
    pub const DEMO: &str = "requests";
    const SECTION: &str = "1.1";

    /// One way of making the requests, measured.
    #[derive(Debug, Clone, Serialize)]
    pub struct Leg {
        /// `sequential_blocking`, `sequential_async` or `concurrent`.
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
        pub fn requests(&self) -> Vec<&Span> {
            shared::trace::named(&self.spans, "request")
        }
    }

    /// The three legs.
    #[derive(Debug, Clone)]
    pub struct Requests {
        /// Listing 1.7: blocking, one by one.
        pub sequential_blocking: Leg,
        /// Async, but one by one.
        pub sequential_async: Leg,
        /// Async, all at once.
        pub concurrent: Leg,
        /// The same in CPython: `python_blocking`, `asyncio_sequential`, `asyncio_gather` (none
        /// without python3).
        pub python: Vec<Leg>,
    }

    impl Requests {
        fn legs(&self) -> Vec<&Leg> {
            let rust = [
                &self.sequential_blocking,
                &self.sequential_async,
                &self.concurrent,
            ];
            rust.into_iter().chain(&self.python).collect()
        }

        /// The legs as the `--json` line and the table show them.
        pub fn report(&self) -> Report<&Leg> {
            Report::new(DEMO, SECTION, self.legs())
        }
    }

    /// Makes the requests three ways against the embedded server (or `url`).
    pub fn measure(sizes: &Sizes) -> anyhow::Result<Requests> {
        let n = sizes.requests;
        // The sequential legs take N x D each; past the limit they make only the first K.
        let k = n.min(sizes.sequential_limit);
        let target = Target::new(sizes.url.as_ref(), sizes.delay_ms)?;
        // Each concurrent request holds a socket on the client side, and (locally) one on the server.
        let sockets = if target.is_local() { 2 * n } else { n };
        shared::fdlimit::ensure_available(sockets, &format!("{n} concurrent requests"))?;
        let url = target.url();
        let leg = |name: &'static str, n: u64, work: &dyn Fn() -> anyhow::Result<Vec<u16>>| {
            target.reset();
            let (done, spans) = shared::narrate::record(name, "request", Some(n), || {
                info_span!("leg", name).in_scope(work)
            });
            done.map(|_| Leg::new(name, n, &target, spans))
        };

        // Before any tokio runtime exists: reqwest::blocking must not live inside one.
        let client = blocking_http_client(url)?;
        let sequential_blocking = leg("sequential_blocking", k, &|| {
            super::sequential_blocking(&client, url, k)
        })?;
        drop(client);
        // One thread runs every task, as asyncio's event loop does.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("could not start the tokio runtime")?;
        let client = http_client(url)?;
        let async_leg = |name, n, concurrent: bool| {
            leg(name, n, &|| match concurrent {
                true => runtime.block_on(super::concurrent(&client, url, n)),
                false => runtime.block_on(super::sequential_async(&client, url, n)),
            })
        };
        let (sequential_async, concurrent) = (
            async_leg("sequential_async", k, false)?,
            async_leg("concurrent", n, true)?,
        );
        let mut python = Vec::new();
        for (name, n) in [
            ("python_blocking", k),
            ("asyncio_sequential", k),
            ("asyncio_gather", n),
        ] {
            let Some(py) = shared::narrate::python() else {
                break;
            };
            target.reset();
            let args = [name.to_string(), url.to_string(), n.to_string()];
            let finished = py.run::<Vec<u16>>(&super::PYTHON, &args)?;
            python.push(Leg::new(name, n, &target, finished.spans));
        }
        let mut legs = Requests {
            sequential_blocking,
            sequential_async,
            concurrent,
            python,
        };
        explain(&mut legs, n, sizes, target.is_local());
        Ok(legs)
    }

    impl Leg {
        /// The leg from its spans: one `leg` span holding its `request` spans.
        fn new(name: &'static str, n: u64, target: &Target, spans: Vec<Span>) -> Self {
            let wall = shared::trace::named(&spans, "leg")
                .first()
                .map(|leg| leg.wall());
            Leg {
                name,
                wall_ms: ms(wall.unwrap_or_default()),
                requests: n,
                max_in_flight: target.max_in_flight(),
                speedup: 0.0,
                ideal: 0,
                note: None,
                spans,
            }
        }
    }

    /// Speedups against the blocking leg, scaled to N when a sequential leg stopped early, and
    /// the notes that say why a number is what it is.
    fn explain(legs: &mut Requests, n: u64, sizes: &Sizes, local: bool) {
        let per_n = |leg: &Leg| leg.wall_ms * n as f64 / leg.requests.max(1) as f64;
        let baseline = per_n(&legs.sequential_blocking);
        let rust = [
            &mut legs.sequential_blocking,
            &mut legs.sequential_async,
            &mut legs.concurrent,
        ];
        for leg in rust.into_iter().chain(&mut legs.python) {
            (leg.speedup, leg.ideal) = (ratio(baseline, per_n(leg)), n);
            if leg.requests < n {
                leg.note = Some(format!(
                    "ran {} of {n} requests (--sequential-limit {}); all {n} would take about {}. \
                     speedup compares time per request x {n}",
                    leg.requests,
                    sizes.sequential_limit,
                    human(Duration::from_millis(n * sizes.delay_ms))
                ));
            } else if !local {
                leg.note = Some("max_in_flight unknown: only the embedded server counts it".into());
            }
        }
        let all_at_once = [&mut legs.concurrent]
            .into_iter()
            .chain(legs.python.get_mut(2));
        for leg in all_at_once.filter(|leg| leg.max_in_flight.unwrap_or(n) < n) {
            let seen = leg.max_in_flight.unwrap_or(n);
            leg.note = Some(format!(
                "the server saw at most {seen} of {n} at once: opening {n} connections took \
                 longer than one request's delay, so the first answers came back before the last \
                 requests were sent (a longer --delay-ms shows all {n} in flight)"
            ));
        }
    }

    /// Runs the demo with its narration: header, progress, table, timelines, summary.
    pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
        let (n, d) = (sizes.requests, sizes.delay_ms);
        narrator.header(
            SECTION,
            "What is asyncio: sequential vs concurrent requests",
            &format!(
                "Waiting for {n} requests of {d} ms one after another takes about {n} x {d} ms, \
                 and making the code async alone does not change that. Only having all of them \
                 in flight at once brings it down to about {d} ms."
            ),
        );
        let legs = measure(sizes)?;
        narrator.report(&legs.report());
        for leg in legs.legs() {
            let requests: Vec<Span> = leg.requests().into_iter().cloned().collect();
            narrator.timeline(leg.name, &requests);
        }
        let on_one_clock: Vec<Span> = (legs.legs().iter())
            .flat_map(|leg| shared::trace::named(&leg.spans, "leg"))
            .cloned()
            .collect();
        narrator.timeline("every leg on one clock", &on_one_clock);

        let in_flight = |leg: &Leg| (leg.max_in_flight).map_or("unknown".into(), |m| m.to_string());
        let (blocking, one_by_one, concurrent) = (
            &legs.sequential_blocking,
            &legs.sequential_async,
            &legs.concurrent,
        );
        let faster = match concurrent.speedup {
            x if x >= 1.05 => format!("{x:.1}x faster"),
            x => format!("no faster ({x:.2}x)"),
        };
        let mut summary = vec![
            format!(
                "Blocking requests one by one took {}; the server never saw more than {} at a time.",
                human_ms(blocking.wall_ms),
                in_flight(blocking)
            ),
            format!(
                "The async version, awaiting each request in turn, took {} with {} in flight: \
                     async code alone is still sequential.",
                human_ms(one_by_one.wall_ms),
                in_flight(one_by_one)
            ),
            format!(
                "With all {n} requests in flight at once ({} seen by the server) they took {}, \
                     {faster} (ideal {n}x), on one thread: concurrency lets us wait for many \
                     things at the same time.",
                in_flight(concurrent),
                human_ms(concurrent.wall_ms),
            ),
        ];
        if let [blocking, sequential, gather] = &legs.python[..] {
            summary.push(format!(
                "CPython: listing 1.7 with http.client took {}, asyncio awaiting each request {} \
                 ({} in flight), asyncio.gather {} ({} in flight): the same lesson in the book's \
                 own language, where the event loop is asyncio's and the waits overlap the same way.",
                human_ms(blocking.wall_ms),
                human_ms(sequential.wall_ms),
                in_flight(sequential),
                human_ms(gather.wall_ms),
                in_flight(gather),
            ));
        }
        narrator.summary(SECTION, &summary);
        Ok(())
    }
}
