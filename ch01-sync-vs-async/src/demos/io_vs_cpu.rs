//! Section 1.2: "I/O bound is when we spend most of our time waiting on a network or other I/O
//! device"; CPU-bound operations are computations. One program, both kinds of step.

use std::hint::black_box;

use anyhow::Context as _;
use reqwest::Url;

// ---- the lesson: the book's listing 1.1 ----

/// Listing 1.1's `requests.get(...)`: I/O-bound, the answer takes as long as the server does.
#[tracing::instrument(name = "io_bound", skip_all)]
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
            (
                key.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into(),
            )
        })
        .collect();
    response
        .bytes()
        .with_context(|| format!("reading the answer from {url} failed"))?;
    Ok(headers)
}

/// Listing 1.1's `'\n'.join(f'{key}: {header}' ...)`: CPU-bound, it takes as long as the CPU does.
pub fn format_headers(headers: &[(String, String)]) -> String {
    let lines: Vec<String> = headers
        .iter()
        .map(|(key, value)| format!("{key}: {value}"))
        .collect();
    black_box(lines.join("\n"))
}

// ---- measuring it: wall time next to process CPU time, for each step ----

pub use measuring::{IoVsCpu, Step, measure, run};

mod measuring {
    use std::time::{Duration, Instant};

    use reqwest::Url;
    use serde::Serialize;
    use shared::workloads::{Target, blocking_http_client};
    use shared::{Narrator, Recording, Report, Span, Stopwatch, Usage};
    use tracing::info_span;

    use crate::Sizes;

    const DEMO: &str = "io-vs-cpu";
    const SECTION: &str = "1.2";

    /// One step of listing 1.1, measured.
    #[derive(Debug, Clone, Serialize)]
    pub struct Step {
        /// `io_bound` or `cpu_bound`.
        pub name: &'static str,
        /// Wall time of the step.
        pub wall_ms: f64,
        /// CPU time of the whole process during the step.
        pub cpu_ms: f64,
        /// CPU time / wall time: near 0 waiting, near 1 computing on one core.
        pub cpu_per_wall: f64,
        /// How often the CPU-bound step formatted the headers (it repeats to last `--cpu-ms`).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub rounds: Option<u64>,
    }

    impl Step {
        fn new(name: &'static str, usage: Usage, rounds: Option<u64>) -> Self {
            Self {
                name,
                wall_ms: usage.wall.as_secs_f64() * 1e3,
                cpu_ms: usage.cpu.as_secs_f64() * 1e3,
                cpu_per_wall: usage.cpu_per_wall(),
                rounds,
            }
        }
    }

    /// Both steps and their spans.
    #[derive(Debug, Clone)]
    pub struct IoVsCpu {
        /// The request.
        pub io_bound: Step,
        /// Formatting its headers.
        pub cpu_bound: Step,
        /// One `io_bound` span and one `cpu_bound` span.
        pub spans: Vec<Span>,
    }

    /// Measures the request, then the formatting of its headers.
    pub fn measure(
        sizes: &Sizes,
        url: Option<&Url>,
        narrator: &Narrator,
    ) -> anyhow::Result<IoVsCpu> {
        let target = Target::new(url, sizes.delay_ms)?;
        // Built before timing starts: setting up a client is not the lesson.
        let client = blocking_http_client(target.url())?;
        let recording = Recording::start();

        let progress = narrator.progress(
            &recording,
            "io_bound: waiting for the response",
            "io_bound",
            None,
        );
        let watch = Stopwatch::start();
        let headers = super::get_headers(&client, target.url())?;
        let io_bound = Step::new("io_bound", watch.usage(), None);
        drop(progress);

        // One round takes microseconds: repeat it for --cpu-ms so that it can be measured.
        let progress = narrator.progress(
            &recording,
            "cpu_bound: formatting headers",
            "cpu_bound",
            None,
        );
        let watch = Stopwatch::start();
        let until = Instant::now() + Duration::from_millis(sizes.cpu_ms);
        let mut rounds = 0;
        info_span!("cpu_bound").in_scope(|| {
            while Instant::now() < until {
                super::format_headers(&headers);
                rounds += 1;
            }
        });
        let cpu_bound = Step::new("cpu_bound", watch.usage(), Some(rounds));
        drop(progress);
        Ok(IoVsCpu {
            io_bound,
            cpu_bound,
            spans: recording.finish(),
        })
    }

    /// Runs the demo with its narration.
    pub fn run(sizes: &Sizes, url: Option<&Url>, narrator: &Narrator) -> anyhow::Result<()> {
        narrator.header(
            SECTION,
            "I/O-bound and CPU-bound",
            "Waiting for a network answer costs wall time but almost no CPU time; computing on \
             the answer costs both.",
        );
        let m = measure(sizes, url, narrator)?;
        narrator.report(&Report::new(DEMO, SECTION, vec![&m.io_bound, &m.cpu_bound]));
        narrator.timeline("listing 1.1", &m.spans);
        let mut summary = vec![
            format!(
                "The request used {:.1}% of a CPU while it lasted: it is I/O-bound; a faster CPU \
                 would not make it faster, a faster server or network would.",
                m.io_bound.cpu_per_wall * 100.0
            ),
            format!(
                "Formatting the headers used {:.0}% of a CPU: it is CPU-bound; only more or \
                 faster CPU would speed it up.",
                m.cpu_bound.cpu_per_wall * 100.0
            ),
            "While a program waits on I/O its CPU is free for other work: that gap is what \
             asyncio uses."
                .into(),
        ];
        if m.cpu_bound.cpu_per_wall < 0.9 {
            summary.push(
                "Below 100% for the CPU-bound step means other programs got part of this CPU \
                 meanwhile: the step wanted all of it."
                    .into(),
            );
        }
        narrator.summary(SECTION, &summary);
        Ok(())
    }
}
