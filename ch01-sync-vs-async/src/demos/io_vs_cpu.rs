//! Section 1.2: "I/O bound is when we spend most of our time waiting on a network or other I/O
//! device"; CPU-bound operations are computations. One program, both kinds of step, and what
//! limits each: change the limiting factor and the time changes, change another and it does not.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::Url;
use serde::Serialize;
use shared::timing::{human_ms, measure as timed, ms, ratio};
use shared::trace::named;
use shared::workloads::{Target, blocking_http_client};
use shared::{Narrator, Report, Span, Stopwatch, Usage};
use tracing::info_span;

use crate::Sizes;
use crate::demos::multitasking::{STEP, spin_for};

// ---- the lesson: the book's listing 1.1, and what limits each of its steps ----

/// Listing 1.1's `requests.get(...)`: I/O-bound, the answer takes as long as the server does.
pub fn get_headers(
    client: &reqwest::blocking::Client,
    url: &Url,
) -> anyhow::Result<Vec<(String, String)>> {
    let _io_bound = info_span!("io_bound").entered();
    let response = client
        .get(url.clone())
        .send()
        .with_context(|| format!("request to {url} failed"))?;
    let headers = response
        .headers()
        .iter()
        .map(|(key, value)| {
            let value = String::from_utf8_lossy(value.as_bytes());
            (key.to_string(), value.into_owned())
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

// Where the lesson's steps run: on one CPU, alone or beside a spinning thread.

/// Runs `work` on a thread pinned to `cpu`; `busier` makes a thread spin there until it is done.
pub fn on_cpu<T: Send>(
    cpu: usize,
    busier: bool,
    work: impl FnOnce() -> T + Send,
) -> anyhow::Result<T> {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let spinner = scope.spawn(|| {
            shared::affinity::to_cpu(cpu)?;
            while busier && !done.load(Ordering::Relaxed) {
                info_span!("spinner").in_scope(|| spin_for(STEP));
            }
            anyhow::Ok(())
        });
        let worker = scope.spawn(|| shared::affinity::to_cpu(cpu).map(|()| work()));
        let result = worker.join();
        done.store(true, Ordering::Relaxed);
        let panicked = |_| anyhow::anyhow!("a thread panicked");
        spinner.join().map_err(panicked)??;
        result.map_err(panicked)?
    })
}

/// Listing 1.1 in CPython: `io_vs_cpu.py` beside this file.
pub const PYTHON: shared::python::Script =
    shared::python::Script::new("io_vs_cpu.py", include_str!("io_vs_cpu.py"));

const DEMO: &str = "io-vs-cpu";
const SECTION: &str = "1.2";
/// How many turns the three CPU-bound runs take (each does 1/SLICES of its rounds per turn).
const SLICES: u64 = 4;

/// One step of listing 1.1, measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Step {
    /// `io_bound`, `cpu_bound`, or one of them with one thing changed (see [`IoVsCpu`]).
    pub name: &'static str,
    /// Wall time of the step.
    pub wall_ms: f64,
    /// CPU time of the whole process during the step, less the spinner's.
    pub cpu_ms: f64,
    /// CPU time / wall time: near 0 waiting, near 1 computing on one core.
    pub cpu_per_wall: f64,
    /// CPU-bound steps: how often they formatted the headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u64>,
    /// The server's delay for a request (embedded server only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// CPU time a spinning thread pinned to the step's CPU took during the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spinner_cpu_ms: Option<f64>,
    /// Wall time / that of its baseline row (`io_bound` or `cpu_bound_fixed_work`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_baseline: Option<f64>,
    /// Busy rows: whether `cpu_bound_fixed_work` got 0.8 CPU-seconds per second or more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_cpu: Option<bool>,
    /// Where the step ran, or why it could not change what it meant to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Step {
    fn new(name: &'static str, usage: Usage, rounds: Option<u64>, delay_ms: Option<u64>) -> Self {
        Self {
            name,
            wall_ms: ms(usage.wall),
            cpu_ms: ms(usage.cpu),
            cpu_per_wall: usage.cpu_per_wall(),
            rounds,
            delay_ms,
            ..Self::default()
        }
    }
}

/// Every step in the order measured, and their spans.
#[derive(Debug, Clone)]
pub struct IoVsCpu {
    /// `io_bound` (the request), `cpu_bound` (formatting its headers for `--cpu-ms`), then
    /// each with one thing changed: `io_bound_half_delay` (not for a `--url`),
    /// `io_bound_busy_cpu` (a spinning thread on its CPU), `cpu_bound_fixed_work` (the rounds
    /// `--cpu-ms` of CPU time gave, alone on one CPU), `cpu_bound_half_work` (half those),
    /// `cpu_bound_busy_cpu` (all, beside a spinning thread); then CPython's
    /// `python_io_bound` and `python_cpu_bound` (none without python3).
    pub steps: Vec<Step>,
    /// One `io_bound` span and one `cpu_bound` span: listing 1.1 (and in CPython).
    pub spans: Vec<Span>,
    /// One `leg` span per changed step, and the spinners' steps.
    pub limits: Vec<Span>,
}

impl IoVsCpu {
    /// The step called `name`, if it was measured.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.name == name)
    }
}

/// Measures the request, then the formatting of its headers; then each again with one thing
/// changed: the server's delay, the amount of work, or how busy the CPU is.
pub fn measure(sizes: &Sizes) -> anyhow::Result<IoVsCpu> {
    let target = Target::new(sizes.url.as_ref(), sizes.delay_ms)?;
    // Built before timing starts: setting up a client is not the lesson.
    let client = blocking_http_client(target.url())?;
    let what = "io_bound: waiting for the response";
    let ((headers, usage), mut spans) = shared::narrate::record(what, "io_bound", None, || {
        timed(|| get_headers(&client, target.url()))
    });
    let (headers, local_delay) = (headers?, target.is_local().then_some(sizes.delay_ms));
    let mut io_bound = Step::new("io_bound", usage, None, local_delay);

    // One round takes microseconds: repeat it for --cpu-ms so that it can be measured.
    let what = "cpu_bound: formatting headers";
    let ((rounds, usage), formatting) = shared::narrate::record(what, "cpu_bound", None, || {
        let until = Instant::now() + Duration::from_millis(sizes.cpu_ms);
        let _span = info_span!("cpu_bound").entered();
        timed(|| {
            let mut rounds = 0;
            while Instant::now() < until {
                format_headers(&headers);
                rounds += 1;
            }
            rounds
        })
    });
    let cpu_bound = Step::new("cpu_bound", usage, Some(rounds), None);
    spans.extend(formatting);

    // The fixed amount of work: the rounds --cpu-ms of CPU time does, at the rate per
    // CPU-second (not per wall-second: other programs may have had part of its CPU).
    let cpu_time = named(&spans, "cpu_bound").first().map(|s| s.cpu());
    let per_ms = ratio(rounds as f64, ms(cpu_time.unwrap_or_default()));
    let work = ((per_ms * sizes.cpu_ms as f64) as u64 / (2 * SLICES)).max(1) * 2 * SLICES;

    let cpu = shared::affinity::allowed_cpus()?[0];
    let what = "what limits each step";
    let legs = 2 + 3 * SLICES;
    let (changed, mut limits) = shared::narrate::record(what, "leg", Some(legs), || {
        let mut steps = Vec::new();
        if let Some(server) = target.server() {
            let delay = sizes.delay_ms / 2;
            let url: Url = server.delay_url(delay).parse()?;
            let get = || get_headers(&client, &url);
            steps.push(leg("io_bound_half_delay", None, Some(delay), get)?);
        }
        let url = target.url();
        // The client is built on the pinned thread: its own I/O thread then shares that CPU.
        steps.push(on_cpu(cpu, true, || {
            let client = blocking_http_client(url)?;
            let get = || get_headers(&client, url);
            leg("io_bound_busy_cpu", None, local_delay, get)
        })??);
        let formatting = |name, rounds: u64, busier| {
            on_cpu(cpu, busier, || {
                leg(name, Some(rounds), None, || {
                    (0..rounds).for_each(|_| drop(format_headers(&headers)));
                    anyhow::Ok(())
                })
            })?
        };
        // Other programs' load drifts from moment to moment, and the CPU clock with it (the same
        // rounds took from 0.6x to 1.7x the CPU time on a shared machine): the three runs take
        // turns in slices, so that each meets the same drift.
        let runs = [
            ("cpu_bound_fixed_work", work, false),
            ("cpu_bound_half_work", work / 2, false),
            ("cpu_bound_busy_cpu", work, true),
        ];
        let mut totals =
            runs.map(|(name, rounds, _)| Step::new(name, Usage::default(), Some(rounds), None));
        for _ in 0..SLICES {
            for ((name, rounds, busier), total) in runs.into_iter().zip(&mut totals) {
                let slice = formatting(name, rounds / SLICES, busier)?;
                total.wall_ms += slice.wall_ms;
                total.cpu_ms += slice.cpu_ms;
                total.cpu_per_wall = ratio(total.cpu_ms, total.wall_ms);
            }
        }
        steps.extend(totals);
        anyhow::Ok(steps)
    });
    if target.server().is_none() {
        io_bound.note = Some(format!(
            "{} is not our server: its delay cannot be halved, so io_bound_half_delay is \
             left out",
            target.url()
        ));
    }
    limits.retain(|s| s.name == "leg" || s.name == "spinner");
    let steps = [vec![io_bound, cpu_bound], changed?].concat();
    let mut m = IoVsCpu {
        steps,
        spans,
        limits,
    };
    compare(&mut m, cpu);
    if let Some(python) = shared::narrate::python() {
        let args = [target.url().to_string(), sizes.cpu_ms.to_string()];
        let finished = python.run::<u64>(&PYTHON, &args)?;
        let rows = [
            ("python_io_bound", None),
            ("python_cpu_bound", Some(finished.result)),
        ];
        for ((name, rounds), span) in rows.into_iter().zip(&finished.spans) {
            let (wall, cpu) = (span.wall(), span.cpu());
            let delay_ms = local_delay.filter(|_| rounds.is_none());
            m.steps
                .push(Step::new(name, Usage { wall, cpu }, rounds, delay_ms));
        }
        m.spans.extend(finished.spans);
    }
    Ok(m)
}

/// One step measured inside a `leg` span named after its row.
fn leg<T>(
    name: &'static str,
    rounds: Option<u64>,
    delay_ms: Option<u64>,
    work: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<Step> {
    let watch = Stopwatch::start();
    info_span!("leg", name).in_scope(work)?;
    Ok(Step::new(name, watch.usage(), rounds, delay_ms))
}

/// Fills in what needs the other rows or the spans: each row's wall time against its
/// baseline, and the spinner's CPU time during a busy step, taken out of the step's own.
fn compare(m: &mut IoVsCpu, cpu: usize) {
    let wall = |name| m.step(name).map_or(0.0, |step| step.wall_ms);
    let (io, cpu_fixed) = (wall("io_bound"), wall("cpu_bound_fixed_work"));
    let idle_cpu = (m.step("cpu_bound_fixed_work")).is_some_and(|s| s.cpu_per_wall >= 0.8);
    let spinner = named(&m.limits, "spinner");
    // Each changed row against the row it changes one thing of.
    for step in &mut m.steps[2..] {
        let baseline = if step.name.starts_with("io_bound") {
            io
        } else {
            cpu_fixed
        };
        step.vs_baseline = Some(ratio(step.wall_ms, baseline));
        if !step.name.ends_with("busy_cpu") {
            continue;
        }
        step.idle_cpu = Some(idle_cpu);
        let label = format!("leg {}", step.name);
        let runs = || spinner.iter().flat_map(|s| &s.runs);
        // Each spinner run's CPU time, in proportion to how much of it fell in the step's slices.
        let spun: Duration = (m.limits.iter().filter(|s| s.label == label))
            .flat_map(|window| runs().map(move |run| (window, run)))
            .map(|(window, run)| {
                let (from, to) = (run.start.max(window.opened), run.end.min(window.closed));
                let wall = run.end.saturating_sub(run.start).as_secs_f64();
                let inside = to.saturating_sub(from).as_secs_f64();
                run.cpu().mul_f64(ratio(inside, wall))
            })
            .sum();
        step.spinner_cpu_ms = Some(ms(spun));
        step.cpu_ms = (step.cpu_ms - ms(spun)).max(0.0);
        step.cpu_per_wall = ratio(step.cpu_ms, step.wall_ms);
    }
    let pinned = if cfg!(target_os = "linux") {
        format!(
            "this row and the cpu_bound rows after it ran on CPU {cpu}, pinned with \
             sched_setaffinity; in the busy_cpu rows a spinning thread pinned there shared it"
        )
    } else {
        "threads are pinned to a CPU on Linux only: here the spinner of the busy_cpu rows \
         may have run on another core"
            .into()
    };
    if let Some(busy_io) = m.steps.iter_mut().find(|s| s.name == "io_bound_busy_cpu") {
        busy_io.note = Some(pinned);
    }
}

/// What the changed rows showed against their baselines, and where this run disagreed.
fn limits_lines(m: &IoVsCpu) -> Vec<String> {
    let none = Step::default();
    let step = |name| m.step(name).unwrap_or(&none);
    let x = |name| step(name).vs_baseline.unwrap_or(0.0);
    let mut lines = Vec::new();
    if m.step("io_bound_half_delay").is_some() {
        let x = x("io_bound_half_delay");
        let why = match x < 0.8 {
            true => "the wait is what limits an I/O-bound step",
            false => "this run, something other than the server's delay held it up",
        };
        lines.push(format!(
            "With half the server's delay the request took {x:.2}x as long: {why}."
        ));
    }
    let busy_io = x("io_bound_busy_cpu");
    let why = match (busy_io < 1.25, step("io_bound_busy_cpu").idle_cpu) {
        (true, _) => "a busier CPU does not slow a step that waits",
        (false, Some(false)) => {
            "slower, as picking up the answer needed a turn on this CPU, which other \
             programs kept busy too; the server's wait itself did not change"
        }
        _ => {
            "slower, as picking up the answer needed a turn on the busy CPU; the server's \
             wait itself did not change"
        }
    };
    lines.push(format!(
        "With a spinning thread on its CPU the request took {busy_io:.2}x as long: {why}."
    ));
    let (fixed, half) = (step("cpu_bound_fixed_work"), step("cpu_bound_half_work"));
    let cpu_x = ratio(half.cpu_ms, fixed.cpu_ms);
    let half = x("cpu_bound_half_work");
    let why = match (half < 0.8, cpu_x < 0.8) {
        (true, _) => "the amount of computing sets a CPU-bound step's time",
        (false, true) => "other programs took part of this CPU, but the CPU time fell all the same",
        (false, false) => {
            "this run, other programs' load changed between the two and blurred both clocks"
        }
    };
    lines.push(format!(
        "Half the rounds of formatting took {half:.2}x as long, CPU time {cpu_x:.2}x: {why}."
    ));
    let busy = step("cpu_bound_busy_cpu");
    let why = match (x(busy.name) >= 1.2, busy.idle_cpu) {
        (true, _) => "the CPU is what limits a CPU-bound step, not the server".into(),
        (false, Some(false)) => format!(
            "this CPU was not idle (alone, the rounds got {:.2} CPU-seconds per second), so \
             the spinner was one more among other programs and changed the share less; a \
             quieter machine shows the spinner take half",
            fixed.cpu_per_wall
        ),
        _ => "less slowed than the spinner's share predicts: other programs' load changed \
              between the two runs"
            .into(),
    };
    lines.push(format!(
        "The same rounds beside a spinning thread took {:.2}x, at {:.2} CPU-seconds per \
         second while the spinner took {}: {why}.",
        x(busy.name),
        busy.cpu_per_wall,
        human_ms(busy.spinner_cpu_ms.unwrap_or(0.0))
    ));
    lines
}

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "I/O-bound and CPU-bound",
        "Waiting for a network answer costs wall time but almost no CPU time; computing on \
         the answer costs both. What a step is bound by is what limits it: change that and \
         its time changes, change the other and it does not.",
    );
    let m = measure(sizes)?;
    narrator.report(&Report::new(DEMO, SECTION, m.steps.iter().collect()));
    narrator.timeline("listing 1.1", &m.spans);
    narrator.timeline("what limits each step", &m.limits);
    let percent = |name| m.step(name).map_or(0.0, |step| step.cpu_per_wall * 100.0);
    let (io, cpu) = (percent("io_bound"), percent("cpu_bound"));
    let others = (cpu < 90.0).then_some(" (other programs got the rest)");
    let mut summary = vec![format!(
        "The request used {io:.1}% of a CPU while it lasted: it is I/O-bound; a faster server \
         or network would speed it up, a faster CPU would not, and its CPU is free for other \
         work meanwhile: asyncio uses that gap. Formatting the headers used {cpu:.0}%{}: \
         it is CPU-bound; only more or faster CPU would speed it up.",
        others.unwrap_or_default()
    )];
    summary.extend(limits_lines(&m));
    if m.step("python_io_bound").is_some() {
        let (io, cpu) = (percent("python_io_bound"), percent("python_cpu_bound"));
        summary.push(format!(
            "CPython: fetching the page used {io:.1}% of a CPU, formatting its headers \
             {cpu:.0}%: the same split in the book's own language."
        ));
    }
    narrator.summary(SECTION, &summary);
    Ok(())
}
