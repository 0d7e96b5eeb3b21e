//! Section 1.3: concurrency, parallelism and multitasking, in four measurements.
//!
//! - `cooperative`: two tasks on one thread take turns at their `.await` points;
//! - `starved`: a task that never awaits keeps the other from even starting (`starved_ms`);
//! - `preemptive_one_core`: two threads pinned to one CPU both progress: the OS time-slices them;
//! - `parallel`: two threads on two cores run at the very same time (overlapping CPU spans).

pub mod busy;
pub mod cooperative;
pub mod pin;
pub mod threads;

use std::sync::Arc;
use std::time::Duration;

use shared::{Measurement, Narrator, Span, SpanKind, SpanRecorder, Stopwatch};

use crate::Sizes;
use crate::outcome::{Outcome, threads_used};

/// The demo's name in `--help` and `--json`.
pub const DEMO: &str = "multitasking";
/// The section of the notes it demonstrates.
pub const SECTION: &str = "1.3";
/// How many turns each cooperative task takes.
pub const STEPS: u32 = 6;

/// Runs the four measurements; each task or thread stays busy for about `sizes.busy_ms`.
pub fn measure(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<Outcome> {
    let busy = Duration::from_millis(sizes.busy_ms);
    let step = busy / STEPS;
    let mut outcome = Outcome::new(DEMO, SECTION);

    let progress = narrator.progress("cooperative", None);
    let recorder = Arc::new(SpanRecorder::new());
    let watch = Stopwatch::start();
    cooperative::cooperative(STEPS, step, &recorder)?;
    let usage = watch.usage();
    drop(progress);
    let spans = recorder.spans();
    outcome.report.push(
        Measurement::from_usage("cooperative", usage)
            .field("threads_used", threads_used(&spans))
            .field("switches", task_switches(&spans) as f64),
    );
    outcome.spans.push(("cooperative".into(), spans));

    let progress = narrator.progress("starved", None);
    let recorder = Arc::new(SpanRecorder::new());
    let watch = Stopwatch::start();
    let starved_for = cooperative::starved(busy, STEPS, step, &recorder)?;
    let usage = watch.usage();
    drop(progress);
    let spans = recorder.spans();
    outcome.report.push(
        Measurement::from_usage("starved", usage)
            .field("threads_used", threads_used(&spans))
            .field("starved_ms", starved_for.as_secs_f64() * 1e3),
    );
    outcome.spans.push(("starved".into(), spans));

    let progress = narrator.progress("preemptive_one_core", None);
    let one_core = preemptive_one_core(busy);
    drop(progress);
    let (measurement, spans) = one_core?;
    outcome.report.push(measurement);
    outcome.spans.push(("preemptive_one_core".into(), spans));

    let progress = narrator.progress("parallel", None);
    let two_cores = parallel(busy);
    drop(progress);
    let (measurement, spans) = two_cores?;
    outcome.report.push(measurement);
    outcome.spans.push(("parallel".into(), spans));
    Ok(outcome)
}

#[cfg(target_os = "linux")]
fn allowed_cpus() -> anyhow::Result<Vec<usize>> {
    pin::allowed_cpus()
        .map_err(|e| anyhow::anyhow!("could not read this process's CPU affinity: {e}"))
}

/// Two busy threads pinned to the same CPU: neither yields, yet both make progress, because the
/// OS preempts one to run the other. Returns the measurement and the threads' CPU spans.
#[cfg(target_os = "linux")]
pub fn preemptive_one_core(busy: Duration) -> anyhow::Result<(Measurement, Vec<Span>)> {
    let cpu = allowed_cpus()?[0];
    let recorder = SpanRecorder::new();
    let watch = Stopwatch::start();
    let two = threads::run_two(busy, [Some(cpu), Some(cpu)], &recorder)?;
    let usage = watch.usage();
    let spans = recorder.spans();
    let measurement = thread_measurement("preemptive_one_core", usage, &two, &spans).note(format!(
        "both threads pinned to CPU {cpu} with sched_setaffinity"
    ));
    Ok((measurement, spans))
}

/// Pinning threads to a CPU needs Linux's `sched_setaffinity`: elsewhere the measurement says
/// it was skipped.
#[cfg(not(target_os = "linux"))]
pub fn preemptive_one_core(_busy: Duration) -> anyhow::Result<(Measurement, Vec<Span>)> {
    let measurement = Measurement::new("preemptive_one_core", Duration::ZERO)
        .field("threads_used", 0)
        .note(
            "skipped: pinning two threads to one CPU needs sched_setaffinity, which only Linux has",
        );
    Ok((measurement, Vec::new()))
}

/// Two threads on two different CPUs. Pinned apart on Linux: left alone, a scheduler on a busy
/// machine may well put both on the same core, and then nothing runs in parallel.
pub fn parallel(busy: Duration) -> anyhow::Result<(Measurement, Vec<Span>)> {
    #[cfg(target_os = "linux")]
    let (pins, how) = match allowed_cpus()?.as_slice() {
        [first, second, ..] => (
            [Some(*first), Some(*second)],
            format!("threads pinned to CPUs {first} and {second} with sched_setaffinity"),
        ),
        _ => (
            [None, None],
            "only one CPU is available here: nothing can run in parallel".into(),
        ),
    };
    #[cfg(not(target_os = "linux"))]
    let (pins, how) = (
        [None, None],
        "threads not pinned (Linux only): the OS may or may not use two cores".to_string(),
    );
    let recorder = SpanRecorder::new();
    let watch = Stopwatch::start();
    let two = threads::run_two(busy, pins, &recorder)?;
    let usage = watch.usage();
    let spans = recorder.spans();
    let measurement = thread_measurement("parallel", usage, &two, &spans).note(how);
    Ok((measurement, spans))
}

fn thread_measurement(
    name: &str,
    usage: shared::Usage,
    two: &threads::TwoThreads,
    spans: &[Span],
) -> Measurement {
    Measurement::from_usage(name, usage)
        .field("threads_used", threads_used(spans))
        .field("progress_a", two.progress[0] as f64)
        .field("progress_b", two.progress[1] as f64)
        .field("cpus_seen", two.cpus_seen.len() as f64)
        .field("overlap_ms", cpu_overlap(spans).as_secs_f64() * 1e3)
}

/// How often the task changes between consecutive spans: with strict turns, spans - 1.
pub fn task_switches(spans: &[Span]) -> usize {
    spans
        .windows(2)
        .filter(|pair| pair[0].task != pair[1].task)
        .count()
}

/// How long CPU spans of different tasks ran at the same time: parallelism, measured.
pub fn cpu_overlap(spans: &[Span]) -> Duration {
    let cpu: Vec<&Span> = spans.iter().filter(|s| s.kind == SpanKind::Cpu).collect();
    let mut total = Duration::ZERO;
    for (i, a) in cpu.iter().enumerate() {
        for b in &cpu[i + 1..] {
            if a.task != b.task && a.overlaps(b) {
                total += a.end.min(b.end) - a.start.max(b.start);
            }
        }
    }
    total
}

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "Concurrency, parallelism and multitasking",
        "Tasks on one thread take turns only where they yield (cooperative multitasking); the OS \
         time-slices threads even on one core (preemptive); only two cores run two things at once \
         (parallelism).",
    );
    let outcome = measure(sizes, narrator)?;
    outcome.print(narrator, None);
    let get = |m: &str, f: &str| outcome.field(m, f).unwrap_or(0.0);
    let ratio = |m: &str| {
        let wall = get(m, "wall_ms");
        if wall > 0.0 {
            get(m, "cpu_ms") / wall
        } else {
            0.0
        }
    };
    let one_core = if outcome
        .report
        .get("preemptive_one_core")
        .is_some_and(|m| m.get("progress_a").is_some())
    {
        format!(
            "Two threads pinned to one CPU both progressed ({:.0} and {:.0} chunks) with nobody \
             yielding: the OS preempted them, {:.2} CPU-seconds per second.",
            get("preemptive_one_core", "progress_a"),
            get("preemptive_one_core", "progress_b"),
            ratio("preemptive_one_core")
        )
    } else {
        "Preemptive time-slicing on one core was skipped on this platform (see the note).".into()
    };
    narrator.summary(
        SECTION,
        &[
            &format!(
                "Cooperative: tasks A and B alternated {:.0} times on {:.0} thread, switching only at yield_now().",
                get("cooperative", "switches"),
                get("cooperative", "threads_used")
            ),
            &format!(
                "Starved: a task that never awaits kept the other one waiting {} for its first turn.",
                shared::report::format_ms(get("starved", "starved_ms"))
            ),
            &one_core,
            &format!(
                "Parallel: on two CPUs, the two threads ran at the same time for {} ({:.2} CPU-seconds \
                 per second): concurrency is taking turns, parallelism is running at once.",
                shared::report::format_ms(get("parallel", "overlap_ms")),
                ratio("parallel")
            ),
        ],
    );
    Ok(())
}
