//! Section 1.2 (the book's listing 1.1): one program, two kinds of step. Fetching a page is
//! I/O-bound: the wall clock runs while the CPU idles. Formatting its headers is CPU-bound: the
//! CPU works the whole time. We measure both with wall time next to process CPU time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::Url;
use shared::workloads::{Target, blocking_http_client};
use shared::{Measurement, Narrator, SpanKind, SpanRecorder, Stopwatch};

use crate::Sizes;
use crate::outcome::Outcome;

/// The demo's name in `--help` and `--json`.
pub const DEMO: &str = "io-vs-cpu";
/// The section of the notes it demonstrates.
pub const SECTION: &str = "1.2";

/// Measures the I/O-bound request, then the CPU-bound formatting of its headers.
pub fn measure(sizes: &Sizes, url: Option<&Url>, narrator: &Narrator) -> anyhow::Result<Outcome> {
    let target = Target::new(url, sizes.delay_ms)?;
    // Built before timing starts: setting up a client (TLS included) is not the lesson.
    let client = blocking_http_client(target.url())?;
    let recorder = SpanRecorder::new();

    let progress = narrator.progress("io_bound: waiting for the response", None);
    let watch = Stopwatch::start();
    let headers = recorder.in_span("io_bound: GET", SpanKind::WaitIo, || {
        get_headers(&client, target.url())
    })?;
    let io = watch.usage();
    drop(progress);

    let progress = narrator.progress("cpu_bound: formatting headers", None);
    let watch = Stopwatch::start();
    let rounds = recorder.in_span("cpu_bound: format", SpanKind::Cpu, || {
        format_headers_for(&headers, Duration::from_millis(sizes.cpu_ms))
    });
    let cpu = watch.usage();
    drop(progress);

    let mut outcome = Outcome::new(DEMO, SECTION);
    outcome.report.push(Measurement::from_usage("io_bound", io));
    outcome
        .report
        .push(Measurement::from_usage("cpu_bound", cpu).field("rounds", rounds as f64));
    outcome.spans.push(("listing 1.1".into(), recorder.spans()));
    Ok(outcome)
}

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, url: Option<&Url>, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "I/O-bound and CPU-bound",
        "Waiting for a network answer costs wall time but almost no CPU time; \
         computing on the answer costs both.",
    );
    let outcome = measure(sizes, url, narrator)?;
    outcome.print(narrator, None);
    let ratio = |name| {
        let wall = outcome.field(name, "wall_ms").unwrap_or(0.0);
        let cpu = outcome.field(name, "cpu_ms").unwrap_or(0.0);
        if wall > 0.0 { cpu / wall } else { 0.0 }
    };
    narrator.summary(
        SECTION,
        &[
            &format!(
                "The request used {:.1}% of a CPU while it lasted: it is I/O-bound, \
                 a faster CPU would not make it faster, a faster server or network would.",
                ratio("io_bound") * 100.0
            ),
            &format!(
                "Formatting the headers used {:.0}% of a CPU: it is CPU-bound, \
                 only more or faster CPU would speed it up.",
                ratio("cpu_bound") * 100.0
            ),
            "While a program waits on I/O its CPU is free for other work: that gap is what asyncio uses.",
        ],
    );
    if ratio("cpu_bound") < 0.9 {
        narrator.say(
            "  (Below 100% for the CPU-bound step means other programs got part of this CPU \
             meanwhile: the step wanted all of it.)",
        );
    }
    Ok(())
}

/// The I/O-bound step: a GET whose answer we keep only the headers of.
pub fn get_headers(
    client: &reqwest::blocking::Client,
    url: &Url,
) -> anyhow::Result<Vec<(String, String)>> {
    let response = client
        .get(url.clone())
        .send()
        .with_context(|| format!("request to {url} failed"))?;
    let headers = response
        .headers()
        .iter()
        .map(|(key, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (key.to_string(), value)
        })
        .collect();
    response
        .bytes()
        .with_context(|| format!("reading the answer from {url} failed"))?;
    Ok(headers)
}

/// The CPU-bound step, listing 1.1's `'\n'.join(f'{key}: {header}' ...)`, repeated until `busy`
/// has passed so that the step is long enough to measure. Returns how many rounds it made.
pub fn format_headers_for(headers: &[(String, String)], busy: Duration) -> u64 {
    let until = Instant::now() + busy;
    let mut rounds = 0;
    // Bounded by the clock; black_box keeps the optimizer from skipping work it can see is unused.
    while Instant::now() < until {
        let lines: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        black_box(lines.join("\n"));
        rounds += 1;
    }
    rounds
}
