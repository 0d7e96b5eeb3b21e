//! Section 1.3: concurrency, parallelism and multitasking. Tasks on one thread take turns only
//! where their code says so (cooperative); the OS time-slices threads even on one core
//! (preemptive); on two cores two threads run at the same time (parallel).

use std::hint::black_box;
use std::time::{Duration, Instant};

use tracing::{Instrument as _, info_span};

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

/// Preemptive multitasking and parallelism: two OS threads that never yield, each allowed only
/// on the CPU given (if any). Who runs is the OS's choice: on one CPU it slices time between
/// them, on two it can run both at once. Returns the CPU each thread finished on.
pub fn two_threads(busy: Duration, cpus: [Option<usize>; 2]) -> anyhow::Result<Vec<Option<usize>>> {
    std::thread::scope(|scope| {
        let threads: Vec<_> = ["A", "B"]
            .into_iter()
            .zip(cpus)
            .map(|(name, cpu)| {
                scope.spawn(move || {
                    if let Some(cpu) = cpu {
                        shared::affinity::to_cpu(cpu)?;
                    }
                    let until = Instant::now() + busy;
                    while Instant::now() < until {
                        // Small steps, each a span: the timeline then shows when it had a CPU.
                        info_span!("thread", name).in_scope(|| spin_for(STEP));
                    }
                    anyhow::Ok(shared::affinity::current_cpu())
                })
            })
            .collect();
        let finished = threads
            .into_iter()
            .map(|t| t.join().map_err(|_| anyhow::anyhow!("a thread panicked")));
        finished.map(|result| result?).collect()
    })
}

/// One step of a spinning thread: long enough to show on a timeline, short next to a time slice.
pub const STEP: Duration = Duration::from_millis(1);

/// Keeps the CPU busy for `how_long` of wall time, never yielding.
pub fn spin_for(how_long: Duration) {
    let until = Instant::now() + how_long;
    let mut sum = 0u64;
    while Instant::now() < until {
        sum = black_box(sum.wrapping_add(1));
    }
}

/// The smallest await point: ask to be polled again, then return `Pending` once, so the runtime
/// puts this task at the back of its queue. (`tokio::task::yield_now` also defers the wake-up
/// until the runtime has checked for I/O, so two tasks take their turns in pairs; this one keeps
/// the turns strictly alternating, which is easier to read.)
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

// ---- measuring it ----

pub use measuring::{Multitasking, STEPS, Tasks, Threads, measure, parallel, run, switches};

mod measuring {
    use std::time::Duration;

    use anyhow::Context as _;
    use serde::Serialize;
    use shared::timing::{human_ms, measure as timed};
    use shared::trace::{Run, Span, os_context_switches, threads_used};
    use shared::{Narrator, Recording, Report, Usage};

    use crate::Sizes;

    const DEMO: &str = "multitasking";
    const SECTION: &str = "1.3";
    /// How many turns each cooperative task takes.
    pub const STEPS: u32 = 6;

    /// Two tasks on one thread, measured.
    #[derive(Debug, Clone, Serialize)]
    pub struct Tasks {
        /// `cooperative` or `starved`.
        pub name: &'static str,
        /// Wall time of the whole run.
        pub wall_ms: f64,
        /// CPU time of the process during it.
        pub cpu_ms: f64,
        /// OS threads that ran the tasks.
        pub threads_used: usize,
        /// How often the thread went from one task to the other.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub switches: Option<usize>,
        /// How long the polite task waited for its first turn behind the hog.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub starved_ms: Option<f64>,
        /// OS context switches of the thread while it ran the tasks.
        pub os_context_switches: u64,
        /// One `task` span per task.
        #[serde(skip)]
        pub spans: Vec<Span>,
    }

    /// Two spinning threads, measured.
    #[derive(Debug, Clone, Serialize)]
    pub struct Threads {
        /// `preemptive_one_core` or `parallel`.
        pub name: &'static str,
        /// Wall time of the whole run.
        pub wall_ms: f64,
        /// CPU time of the process during it.
        pub cpu_ms: f64,
        /// OS threads that ran the work.
        pub threads_used: usize,
        /// Steps thread A finished: it made progress.
        pub progress_a: usize,
        /// Steps thread B finished.
        pub progress_b: usize,
        /// Distinct CPUs the threads finished on: 1 when pinned together.
        pub cpus_seen: usize,
        /// How long both threads were on a CPU at the same moment.
        pub overlap_ms: f64,
        /// How often the CPU went from one thread to the other (on one core).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub switches: Option<usize>,
        /// OS context switches of the two threads while they worked.
        pub os_context_switches: u64,
        /// How the threads were placed, or why the row was skipped.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub note: Option<String>,
        /// One `thread` span per step.
        #[serde(skip)]
        pub spans: Vec<Span>,
    }

    /// The four rows.
    #[derive(Debug, Clone)]
    pub struct Multitasking {
        /// Two tasks taking turns on one thread.
        pub cooperative: Tasks,
        /// A task that never yields, and one waiting behind it.
        pub starved: Tasks,
        /// Two threads pinned to one CPU.
        pub preemptive_one_core: Threads,
        /// Two threads on two CPUs.
        pub parallel: Threads,
    }

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Row<'a> {
        Tasks(&'a Tasks),
        Threads(&'a Threads),
    }

    /// Runs the four measurements; each task or thread stays busy for about `sizes.busy_ms`.
    pub fn measure(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<Multitasking> {
        let busy = Duration::from_millis(sizes.busy_ms);
        let step = busy / STEPS;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .context("could not start the tokio runtime")?;
        let recording = Recording::start();
        let progress = narrator.progress(&recording, "cooperative", "task", Some(2));
        let (done, usage) = timed(|| runtime.block_on(super::cooperative(STEPS, step)));
        drop(progress);
        done?;
        let cooperative = tasks("cooperative", usage, recording.finish());

        let recording = Recording::start();
        let progress = narrator.progress(&recording, "starved", "task", Some(2));
        let (done, usage) = timed(|| runtime.block_on(super::starved(busy, STEPS, step)));
        drop(progress);
        done?;
        let mut starved = tasks("starved", usage, recording.finish());
        starved.switches = None;
        starved.starved_ms = starved
            .spans
            .iter()
            .find(|s| s.label == "task polite")
            .and_then(|s| Some((s.first_entered()? - s.opened).as_secs_f64() * 1e3));

        let preemptive_one_core = one_core(busy)?;
        let parallel = parallel(busy)?;
        Ok(Multitasking {
            cooperative,
            starved,
            preemptive_one_core,
            parallel,
        })
    }

    fn tasks(name: &'static str, usage: Usage, spans: Vec<Span>) -> Tasks {
        Tasks {
            name,
            wall_ms: usage.wall.as_secs_f64() * 1e3,
            cpu_ms: usage.cpu.as_secs_f64() * 1e3,
            threads_used: threads_used(&spans),
            // Every poll is a turn, however much CPU other programs left it.
            switches: Some(hand_overs(&runs(&spans, false))),
            starved_ms: None,
            os_context_switches: os_context_switches(&spans),
            spans,
        }
    }

    /// Two busy threads pinned to the same CPU: neither yields, yet both progress, because the
    /// OS preempts one to run the other.
    #[cfg(target_os = "linux")]
    fn one_core(busy: Duration) -> anyhow::Result<Threads> {
        let cpu = shared::affinity::allowed_cpus()?[0];
        let mut row = threads("preemptive_one_core", busy, [Some(cpu), Some(cpu)])?;
        row.switches = Some(switches(&row.spans));
        row.note = Some(format!(
            "both threads pinned to CPU {cpu} with sched_setaffinity"
        ));
        Ok(row)
    }

    /// Pinning threads needs Linux's `sched_setaffinity`: elsewhere the row says it was skipped.
    #[cfg(not(target_os = "linux"))]
    fn one_core(_busy: Duration) -> anyhow::Result<Threads> {
        let mut row = threads("preemptive_one_core", Duration::ZERO, [None, None])?;
        row.note = Some(
            "skipped: pinning two threads to one CPU needs sched_setaffinity, which only Linux has"
                .into(),
        );
        Ok(row)
    }

    /// Two threads on two different CPUs. Pinned apart on Linux: left alone, a scheduler on a
    /// busy machine may well put both on one core, and then nothing runs in parallel.
    pub fn parallel(busy: Duration) -> anyhow::Result<Threads> {
        let cpus = shared::affinity::allowed_cpus()?;
        let (pins, note) = match cpus.as_slice() {
            [first, second, ..] if cfg!(target_os = "linux") => (
                [Some(*first), Some(*second)],
                format!("threads pinned to CPUs {first} and {second} with sched_setaffinity"),
            ),
            [_, _, ..] => (
                [None, None],
                "threads not pinned (Linux only): the OS may or may not use two cores".into(),
            ),
            _ => (
                [None, None],
                "only one CPU is available here: nothing can run in parallel".into(),
            ),
        };
        let mut row = threads("parallel", busy, pins)?;
        row.note = Some(note);
        Ok(row)
    }

    fn threads(
        name: &'static str,
        busy: Duration,
        pins: [Option<usize>; 2],
    ) -> anyhow::Result<Threads> {
        let recording = Recording::start();
        let (finished_on, usage) = timed(|| super::two_threads(busy, pins));
        let spans = recording.finish();
        let mut cpus: Vec<usize> = finished_on?.into_iter().flatten().collect();
        cpus.sort_unstable();
        cpus.dedup();
        let steps = |label: &str| spans.iter().filter(|s| s.label == label).count();
        Ok(Threads {
            name,
            wall_ms: usage.wall.as_secs_f64() * 1e3,
            cpu_ms: usage.cpu.as_secs_f64() * 1e3,
            threads_used: threads_used(&spans),
            progress_a: steps("thread A"),
            progress_b: steps("thread B"),
            cpus_seen: cpus.len(),
            overlap_ms: running_overlap(&spans).as_secs_f64() * 1e3,
            switches: None,
            os_context_switches: os_context_switches(&spans),
            note: None,
            spans,
        })
    }

    /// Every stretch a thread spent inside one of the spans, with the span's label, by start;
    /// with `only_running`, only the stretches it spent mostly on a CPU.
    fn runs(spans: &[Span], only_running: bool) -> Vec<(&str, &Run)> {
        let mut runs: Vec<(&str, &Run)> = spans
            .iter()
            .flat_map(|s| s.runs.iter().map(move |r| (s.label.as_str(), r)))
            .filter(|(_, run)| !only_running || run.was_running())
            .collect();
        runs.sort_by_key(|(_, run)| run.start);
        runs
    }

    fn hand_overs(runs: &[(&str, &Run)]) -> usize {
        runs.windows(2)
            .filter(|pair| pair[0].0 != pair[1].0)
            .count()
    }

    /// How often the CPU went from one thread's work to another's: each time a different label
    /// runs next. A scheduler that ran one thread to completion would switch once.
    pub fn switches(spans: &[Span]) -> usize {
        hand_overs(&runs(spans, true))
    }

    /// How long work of two different labels was on a CPU at the same moment: parallelism.
    fn running_overlap(spans: &[Span]) -> Duration {
        let runs = runs(spans, true);
        let mut total = Duration::ZERO;
        for (i, (a_label, a)) in runs.iter().enumerate() {
            for (b_label, b) in &runs[i + 1..] {
                if a_label != b_label && b.start < a.end {
                    total += a.end.min(b.end) - b.start;
                }
            }
        }
        total
    }

    fn cooperative_line(coop: &Tasks) -> String {
        let (handoffs, os) = (coop.switches.unwrap_or(0), coop.os_context_switches);
        let why = if os < handoffs as u64 {
            "fewer than the hand-offs: a task switch happens inside the thread, without the OS"
        } else {
            "other programs on this CPU caused those; the task switches needed none"
        };
        format!(
            "Cooperative: tasks A and B handed the one thread to each other {handoffs} times, only \
             at an .await that returned Pending; the OS context switched that thread {os} times \
             meanwhile, {why}."
        )
    }

    /// Runs the demo with its narration.
    pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
        narrator.header(
            SECTION,
            "Concurrency, parallelism and multitasking",
            "Concurrency is more than one task in progress at the same time. On one thread, tasks \
             take turns only where they give the thread up (cooperative multitasking); the OS \
             time-slices threads even on one core (preemptive); and with two cores, two threads \
             can also execute at the same instant: parallelism, a kind of concurrency.",
        );
        let m = measure(sizes, narrator)?;
        if narrator.json() {
            let rows = vec![
                Row::Tasks(&m.cooperative),
                Row::Tasks(&m.starved),
                Row::Threads(&m.preemptive_one_core),
                Row::Threads(&m.parallel),
            ];
            narrator.report(&Report::new(DEMO, SECTION, rows));
        } else {
            narrator.report(&Report::new(
                DEMO,
                SECTION,
                vec![&m.cooperative, &m.starved],
            ));
            narrator.report(&Report::new(
                DEMO,
                SECTION,
                vec![&m.preemptive_one_core, &m.parallel],
            ));
        }
        for (title, spans) in [
            ("cooperative", &m.cooperative.spans),
            ("starved", &m.starved.spans),
            ("preemptive_one_core", &m.preemptive_one_core.spans),
            ("parallel", &m.parallel.spans),
        ] {
            narrator.timeline(title, spans);
        }
        let (coop, one_core, par) = (&m.cooperative, &m.preemptive_one_core, &m.parallel);
        let cpu_per_wall = |t: &Threads| shared::timing::ratio(t.cpu_ms, t.wall_ms);
        let one_core_line = match one_core.switches {
            Some(switches) => format!(
                "Preemptive: two threads pinned to one CPU both progressed ({} and {} steps) with \
                 neither yielding: the OS switched the CPU between them {switches} times, with {} \
                 OS context switches, {:.2} CPU-seconds per second.",
                one_core.progress_a,
                one_core.progress_b,
                one_core.os_context_switches,
                cpu_per_wall(one_core)
            ),
            None => {
                "Preemptive time-slicing on one core was skipped on this platform (see the note)."
                    .into()
            }
        };
        narrator.summary(
            SECTION,
            &[
                cooperative_line(coop),
                format!(
                    "Starved: a task that never awaits kept the other one waiting {} for its first turn.",
                    human_ms(m.starved.starved_ms.unwrap_or(0.0))
                ),
                one_core_line,
                format!(
                    "Parallel: on two CPUs, the two threads were running at the same moment for {} \
                     ({:.2} CPU-seconds per second): concurrent, and at the same time.",
                    human_ms(par.overlap_ms),
                    cpu_per_wall(par)
                ),
            ],
        );
        Ok(())
    }
}
