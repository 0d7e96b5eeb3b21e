//! Section 1.3: concurrency, parallelism and multitasking. Tasks on one thread take turns only
//! where their code says so (cooperative); the OS time-slices threads even on one core
//! (preemptive); on two cores two threads run at the same time (parallel).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::{FutureExt as _, future::LocalBoxFuture};
use serde::{Deserialize, Serialize};
use shared::narrate::plural;
use shared::timing::{human, human_ms, measure as timed, ms, ratio};
use shared::trace::{Run, Span, os_context_switches, threads_used};
use shared::{Narrator, Report, Usage, python::Script};
use tracing::{Instrument as _, info_span};

use crate::Sizes;

// ---- the lesson: four ways for two pieces of work to share the machine ----

/// Cooperative multitasking: two tasks on ONE thread, each giving the thread up at every
/// `yield_now().await` (asyncio's `await asyncio.sleep(0)`).
pub async fn cooperative(steps: u32, step: Duration) -> anyhow::Result<()> {
    let a = tokio::spawn(take_turns(steps, step).instrument(info_span!("task", name = "A")));
    let b = tokio::spawn(take_turns(steps, step).instrument(info_span!("task", name = "B")));
    tokio::try_join!(a, b)?;
    Ok(())
}

async fn take_turns(steps: u32, step: Duration) {
    for _ in 0..steps {
        spin_for(step);
        yield_now().await;
    }
}

/// A task that never awaits keeps every other task on its thread waiting for its first turn.
pub async fn starved(busy: Duration, steps: u32, step: Duration) -> anyhow::Result<()> {
    let hog = async move { spin_for(busy) }.instrument(info_span!("task", name = "hog"));
    let polite = take_turns(steps, step).instrument(info_span!("task", name = "polite"));
    tokio::try_join!(tokio::spawn(hog), tokio::spawn(polite))?;
    Ok(())
}

/// Preemptive multitasking and parallelism: two OS threads that never yield, each allowed only on
/// the CPU given (if any). The OS picks who runs: on one CPU it slices time between them, on two
/// it can run both at once. Returns the CPU each thread finished on.
pub fn two_threads(busy: Duration, cpus: [Option<usize>; 2]) -> anyhow::Result<Vec<Option<usize>>> {
    std::thread::scope(|scope| {
        let threads: Vec<_> = (["A", "B"].into_iter().zip(cpus))
            .map(|(name, cpu)| {
                scope.spawn(move || {
                    if let Some(cpu) = cpu {
                        shared::affinity::to_cpu(cpu)?;
                    }
                    let until = Instant::now() + busy;
                    // mutants: `<=` is equivalent: one more round if the clock reads exactly `until`.
                    while Instant::now() < until {
                        // Small steps, each a span: the timeline then shows when it had a CPU.
                        info_span!("thread", name).in_scope(|| spin_for(STEP));
                    }
                    anyhow::Ok(shared::affinity::current_cpu())
                })
            })
            .collect();
        (threads.into_iter())
            .map(|t| t.join().map_err(|_| anyhow::anyhow!("a thread panicked"))?)
            .collect()
    })
}

// ---- measuring it ----

/// One step of a spinning thread: long enough to show on a timeline, short next to a time slice.
pub const STEP: Duration = Duration::from_millis(1);

/// Keeps the CPU busy for `how_long` of wall time, never yielding.
pub fn spin_for(how_long: Duration) {
    let until = Instant::now() + how_long;
    // Reading the clock is the work. mutants: `<=` is equivalent: one more round at `until`.
    while Instant::now() < until {}
}

/// The smallest await point: ask to be polled again, then return `Pending` once, so the runtime
/// puts this task at the back of its queue. (`tokio::task::yield_now` defers the wake-up until the
/// runtime has checked for I/O, so two tasks take turns in pairs; this one strictly alternates.)
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            return std::task::Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

/// The same in CPython: `multitasking.py` beside this file.
pub const PYTHON: Script = Script::new("multitasking.py", include_str!("multitasking.py"));

const DEMO: &str = "multitasking";
const SECTION: &str = "1.3";
/// How long each turn of a cooperative task lasts. Short, so that in any stretch of time the
/// tasks hand the thread over far more often than a busy machine's scheduler can preempt it
/// (a time slice is a millisecond or more): the two counts are then not even close.
pub const TASK_STEP: Duration = Duration::from_micros(20);
/// Turns the cooperative timeline shows: at 20 µs each, the whole run would be a blur.
const TURNS_SHOWN: usize = 12;
/// Two threads that got at least this many CPU-seconds per second ran on two idle cores.
const IDLE_CORES: f64 = 1.5;

/// Two tasks on one thread, or two threads, measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    /// `cooperative`, `starved`, `preemptive_one_core`, `parallel`, or a CPython row.
    pub name: &'static str,
    /// Wall time of the whole run.
    pub wall_ms: f64,
    /// CPU time of the process during it.
    pub cpu_ms: f64,
    /// OS threads that ran the work.
    pub threads_used: usize,
    /// Threads: steps thread A finished (it made progress).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_a: Option<usize>,
    /// Threads: steps thread B finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_b: Option<usize>,
    /// Threads: distinct CPUs they finished on, 1 when pinned together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_seen: Option<usize>,
    /// Threads: how long both were on a CPU at the same moment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_ms: Option<f64>,
    /// Hand-overs of the thread (tasks) or of the one CPU (threads) while both had work left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switches: Option<usize>,
    /// `starved`: how long the polite task waited for its first turn behind the hog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starved_ms: Option<f64>,
    /// OS context switches of the threads from their first step or poll to their last.
    pub os_context_switches: u64,
    /// `os_context_switches / switches`: far below 1 if hand-overs need no OS, 1+ if each does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_switches_per_hand_over: Option<f64>,
    /// `parallel`: whether the threads got two cores' worth of CPU (1.5 CPU-seconds/s or more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_cores: Option<bool>,
    /// `python_threads_one_core`: how often the GIL asks a thread to let the other run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_interval_ms: Option<f64>,
    /// How the threads were placed, or why the row was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// One `task` span per task, or one `thread` span per step.
    #[serde(skip)]
    pub spans: Vec<Span>,
}

impl Row {
    /// What every row has: its times, its threads and their OS context switches.
    fn new(name: &'static str, usage: Usage, spans: Vec<Span>) -> Self {
        Row {
            name,
            wall_ms: ms(usage.wall),
            cpu_ms: ms(usage.cpu),
            threads_used: threads_used(&spans),
            os_context_switches: os_context_switches(&spans),
            spans,
            ..Row::default()
        }
    }

    /// The row of two threads, `thread A` and `thread B`, which finished on `cpus`.
    fn of_threads(self, cpus: &[Option<usize>]) -> Self {
        let steps = |label: &str| Some(self.spans.iter().filter(|s| s.label == label).count());
        Row {
            progress_a: steps("thread A"),
            progress_b: steps("thread B"),
            cpus_seen: Some(cpus.iter().flatten().collect::<BTreeSet<_>>().len()),
            overlap_ms: Some(ms(running_overlap(&self.spans))),
            ..self
        }
    }

    /// The row with its hand-overs (see [`switches`]) and OS context switches per hand-over.
    fn handed_over(mut self, only_running: bool) -> Self {
        let switches = switches(&self.spans, only_running);
        let per_hand_over = ratio(self.os_context_switches as f64, switches as f64);
        (self.switches, self.os_switches_per_hand_over) = (Some(switches), Some(per_hand_over));
        self
    }
}

/// Every row, in the order of the lesson, then CPython's; each busy for about `sizes.busy_ms`.
pub fn measure(sizes: &Sizes) -> anyhow::Result<Vec<Row>> {
    let busy = Duration::from_millis(sizes.busy_ms);
    let steps = (busy.as_nanos() / TASK_STEP.as_nanos()).max(1) as u32;
    let runtime = crate::demos::event_loop()?;
    let on_one_thread = |what, work: LocalBoxFuture<anyhow::Result<()>>| {
        let run = || timed(|| runtime.block_on(work));
        let ((done, usage), spans) = shared::narrate::record(what, "task", Some(2), run);
        done.map(|()| Row::new(what, usage, spans))
    };
    // Every poll is a turn, however much CPU other programs left it.
    let coop = on_one_thread("cooperative", cooperative(steps, TASK_STEP).boxed_local())?;
    let mut starved = on_one_thread("starved", starved(busy, steps, TASK_STEP).boxed_local())?;
    let polite = starved.spans.iter().find(|s| s.label == "task polite");
    starved.starved_ms = polite.and_then(|s| Some(ms(s.first_entered()? - s.opened)));
    let coop = coop.handed_over(false);
    let mut rows = vec![coop, starved, one_core(busy)?, parallel(busy)?];
    rows.extend(in_python(sizes.busy_ms)?);
    Ok(rows)
}

/// Two busy threads pinned to the same CPU: neither yields, yet both progress, because the
/// OS preempts one to run the other. Pinning needs Linux's `sched_setaffinity`.
fn one_core(busy: Duration) -> anyhow::Result<Row> {
    let cpu = shared::affinity::allowed_cpus()?[0];
    if !cfg!(target_os = "linux") {
        let mut row = threads("preemptive_one_core", Duration::ZERO, [None; 2])?;
        row.note = Some("skipped: pinning two threads to one CPU needs Linux".into());
        return Ok(row);
    }
    let mut row = threads("preemptive_one_core", busy, [Some(cpu); 2])?.handed_over(true);
    let note = format!("both threads pinned to CPU {cpu} with sched_setaffinity");
    row.note = Some(note);
    Ok(row)
}

/// Two threads on two different CPUs. Pinned apart on Linux: left alone, a scheduler on a
/// busy machine may well put both on one core, and then nothing runs in parallel.
pub fn parallel(busy: Duration) -> anyhow::Result<Row> {
    let cpus = shared::affinity::allowed_cpus()?;
    let pins = match cpus[..] {
        [a, b, ..] if cfg!(target_os = "linux") => [Some(a), Some(b)],
        _ => [None; 2],
    };
    let note = match pins {
        [Some(a), Some(b)] => format!("threads pinned to CPUs {a} and {b} with sched_setaffinity"),
        _ if cpus.len() > 1 => {
            "threads not pinned (Linux only): the OS may or may not use two cores".into()
        }
        _ => "only one CPU is available here: nothing can run in parallel".into(),
    };
    let mut row = threads("parallel", busy, pins)?;
    row.idle_cores = Some(ratio(row.cpu_ms, row.wall_ms) >= IDLE_CORES);
    row.note = Some(note);
    Ok(row)
}

fn threads(name: &'static str, busy: Duration, pins: [Option<usize>; 2]) -> anyhow::Result<Row> {
    let ((finished_on, usage), spans) = shared::trace::record(|| timed(|| two_threads(busy, pins)));
    Ok(Row::new(name, usage, spans).of_threads(&finished_on?))
}

/// What `multitasking.py` answers: its process's times, and the CPUs its threads ended on.
#[derive(Deserialize)]
struct Python {
    wall_ns: u64,
    cpu_ns: u64,
    cpus: Vec<Option<usize>>,
    switch_interval_s: f64,
}

/// The cooperative tasks in asyncio, and two Python threads pinned to one CPU (Linux only).
fn in_python(busy_ms: u64) -> anyhow::Result<Vec<Row>> {
    let Some(python) = shared::narrate::python() else {
        return Ok(vec![]);
    };
    let cpu = shared::affinity::allowed_cpus()?[0];
    let run = |row: &str, last: String| {
        let args = [row.to_string(), busy_ms.to_string(), last];
        let finished = python.run::<Python>(&PYTHON, &args)?;
        let (r, nanos) = (finished.result, Duration::from_nanos);
        let (wall, cpu) = (nanos(r.wall_ns), nanos(r.cpu_ns));
        anyhow::Ok((Usage { wall, cpu }, r, finished.spans))
    };
    let (usage, _, spans) = run("cooperative", TASK_STEP.as_micros().to_string())?;
    let cooperative = Row::new("asyncio_cooperative", usage, spans).handed_over(false);
    if !cfg!(target_os = "linux") {
        return Ok(vec![cooperative]);
    }
    let (usage, r, spans) = run("threads", cpu.to_string())?;
    let mut threads = Row::new("python_threads_one_core", usage, spans).of_threads(&r.cpus);
    let interval = r.switch_interval_s * 1e3;
    threads.switch_interval_ms = Some(interval);
    threads.note = Some(format!(
        "both Python threads pinned to CPU {cpu} with os.sched_setaffinity; the GIL lets one \
         run Python at a time, asked to hand over every {} (sys.getswitchinterval())",
        human_ms(interval)
    ));
    Ok(vec![cooperative, threads.handed_over(true)])
}

/// Every stretch a thread spent inside one of the spans, with the span's label, by start;
/// with `only_running`, only the stretches it spent mostly on a CPU.
pub fn runs(spans: &[Span], only_running: bool) -> Vec<(&str, &Run)> {
    let mut runs: Vec<(&str, &Run)> = (spans.iter())
        .flat_map(|s| s.runs.iter().map(move |r| (s.label.as_str(), r)))
        .filter(|(_, run)| !only_running || run.was_running())
        .collect();
    runs.sort_by_key(|(_, run)| run.start);
    runs
}

/// How often the CPU (or, not `only_running`, the thread) went from one label's work to another's
/// until the first label's last stretch: after it nothing is handed over (the finished thread
/// exits). A scheduler that ran one thread to completion would count 0.
pub fn switches(spans: &[Span], only_running: bool) -> usize {
    let runs = runs(spans, only_running);
    // Each label's last stretch (a later one replaces an earlier one of the same label).
    let last: HashMap<&str, usize> = (runs.iter().enumerate())
        .map(|(i, (label, _))| (*label, i))
        .collect();
    let both_busy = last.values().min().map_or(0, |at| at + 1);
    let pairs = runs[..both_busy].windows(2);
    pairs.filter(|pair| pair[0].0 != pair[1].0).count()
}

/// How long work of two different labels was on a CPU at the same moment: parallelism.
fn running_overlap(spans: &[Span]) -> Duration {
    let runs = runs(spans, true);
    let mut total = Duration::ZERO;
    for (i, (a_label, a)) in runs.iter().enumerate() {
        let during_a = runs[i + 1..].iter().take_while(|(_, b)| b.start < a.end);
        for (_, b) in during_a.filter(|(b_label, _)| b_label != a_label) {
            total += a.end.min(b.end) - b.start;
        }
    }
    total
}

/// The spans cut off after their first `turns` stretches: a timeline of the whole
/// cooperative run would draw both rows solid, its turns being far shorter than a column.
pub fn first_turns(spans: &[Span], turns: usize) -> Vec<Span> {
    let runs = runs(spans, false);
    let Some(cut) = runs.get(turns.saturating_sub(1)).map(|(_, run)| run.end) else {
        return spans.to_vec();
    };
    (spans.iter().filter(|s| s.opened < cut))
        .map(|s| Span {
            closed: s.closed.min(cut),
            runs: s.runs.iter().filter(|r| r.end <= cut).copied().collect(),
            ..s.clone()
        })
        .collect()
}

/// Tasks taking turns on one thread: their hand-overs against the OS's context switches.
fn cooperative_line(row: &Row, who: &str, at: &str) -> String {
    let (hand_overs, os) = (row.switches.unwrap_or(0) as u64, row.os_context_switches);
    let why = match os {
        0 => "not one OS context switch: a task switch happens inside the thread".to_string(),
        _ if os * 5 <= hand_overs => format!(
            "{} hand-overs per OS context switch: a task switch needs no OS, the OS switches \
             were other programs taking their turn on this CPU",
            hand_overs / os
        ),
        _ => "other programs took this CPU a lot; a hand-over asks the OS for nothing".into(),
    };
    format!("{who}: tasks A and B handed the one thread to each other only at {at}; {why}.")
}

/// Threads pinned to one CPU: both progressed, and every hand-over went through the OS.
fn one_core_line(row: &Row, who: &str) -> String {
    let Some(switched) = row.switches.map(|n| n as u64) else {
        return "Preemptive time-slicing on one core was skipped here (see the note).".into();
    };
    let os = row.os_context_switches;
    let each = match switched {
        0 => {
            "but other programs held this CPU so much that no step of one thread ran between \
             two of the other's: run it on a quieter machine to see the hand-overs"
        }
        n if os >= n => "at least one OS context switch each: switching threads goes via the OS",
        _ => "with fewer OS context switches, which this measurement cannot explain",
    };
    let times = plural(switched, "time", "times");
    format!(
        "{who} pinned to one CPU both progressed with neither yielding: the OS switched the \
         CPU between them {times}, {each}."
    )
}

/// Threads on two CPUs: how long both were running at the same moment.
fn parallel_line(row: &Row) -> String {
    let overlap = row.overlap_ms.unwrap_or(0.0);
    let (total, cpu_per_wall) = (human_ms(overlap), ratio(row.cpu_ms, row.wall_ms));
    let said = match (row.idle_cores, overlap > 0.0) {
        (Some(true), true) => "concurrent, and at the same time",
        (_, true) => "other programs held these CPUs part of the time (two idle cores give 2)",
        (_, false) => "no two idle cores this run; run it on a quieter machine to see it",
    };
    format!(
        "Parallel: on two CPUs, the two threads were both running at the same moment for a \
         total of {total} ({cpu_per_wall:.2} CPU-seconds per second): {said}."
    )
}

/// Runs the demo with its narration.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    let claim = "Concurrency is more than one task in progress at a time. Tasks on one thread take \
                 turns only where they give it up (cooperative); the OS time-slices threads even \
                 on one core (preemptive); two cores run two at the same instant: parallelism.";
    narrator.header(SECTION, "Concurrency, parallelism and multitasking", claim);
    let rows = measure(sizes)?;
    if narrator.json() {
        narrator.report(&Report::new(DEMO, SECTION, rows.iter().collect()));
    } else {
        // Two tables, as tasks and threads have different columns.
        let (tasks, threads): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.progress_a.is_none());
        narrator.report(&Report::new(DEMO, SECTION, tasks));
        narrator.report(&Report::new(DEMO, SECTION, threads));
    }
    let step = human(TASK_STEP);
    for row in &rows {
        if row.name.ends_with("cooperative") {
            let title = format!("{}, its first {TURNS_SHOWN} turns of {step} each", row.name);
            narrator.timeline(&title, &first_turns(&row.spans, TURNS_SHOWN));
        } else {
            narrator.timeline(row.name, &row.spans);
        }
    }
    let summary: Vec<String> = (rows.iter().map(|row| match row.name {
        "cooperative" => cooperative_line(row, "Cooperative", "an .await returning Pending"),
        "starved" => format!(
            "Starved: a task that never awaits kept the other waiting {} for a turn.",
            human_ms(row.starved_ms.unwrap_or(0.0))
        ),
        "preemptive_one_core" => one_core_line(row, "Preemptive: two threads"),
        "parallel" => parallel_line(row),
        "asyncio_cooperative" => cooperative_line(row, "asyncio", "`await asyncio.sleep(0)`"),
        // The Python threads' note says how the GIL hands over.
        _ => one_core_line(row, "CPython: two Python threads"),
    }))
    .collect();
    narrator.summary(SECTION, &summary);
    Ok(())
}
