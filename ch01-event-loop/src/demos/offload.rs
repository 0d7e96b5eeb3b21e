//! Section 1.7 and the notes' summary: asyncio "exposes APIs for making CPU-bound work concurrent
//! as well". Demo `offload`: a ticker task wants to run every 10 ms on the hand-built loop while a
//! CPU-heavy job runs inside a task (`on_loop`: the loop's thread computes, the ticker starves),
//! on tokio's blocking pool (`spawn_blocking`, asyncio's `run_in_executor(None, job)`), or in a
//! child process (`process`, a `ProcessPoolExecutor`). Off the loop, the job's end comes back as a
//! wake-up from another thread, like asyncio's `call_soon_threadsafe`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use shared::child::SelfExe;
use shared::narrate::{plural, record};
use shared::timing::{human_ms, ms, ratio, thread_cpu_time};
use shared::{Narrator, Report};
use tracing::{Instrument as _, info_span};

use super::{Rows, SECTION};
use crate::cli::{Job, Sizes};
use crate::event_loop::{EventLoop, sleep, spawn};
use crate::observe;

// ---- the lesson: one CPU-heavy job, and three places to run it ----

/// The CPU-heavy job: `iterations` rounds of integer mixing (xorshift), with a checksum so that
/// neither the compiler nor a lazy child process can skip the work.
pub fn cpu_job(iterations: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let mut sum = 0u64;
    for _ in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum = sum.wrapping_add(black_box(x));
    }
    sum
}

/// Runs the job at `place` (the loop runs on while it waits, except on the loop itself); returns
/// its start, checksum and end. Its span is on the thread that runs it or waits for the child.
async fn run_job(
    place: &str,
    iterations: u64,
    blocking_pool: &tokio::runtime::Handle,
    exe: &SelfExe,
) -> anyhow::Result<(Instant, u64, Instant)> {
    let timed = move || (Instant::now(), cpu_job(iterations), Instant::now());
    Ok(match place {
        "on_loop" => spawn(async move { timed() }.instrument(info_span!("on_loop job"))).await?,
        "spawn_blocking" => {
            let in_pool = move || info_span!("spawn_blocking job").in_scope(timed);
            blocking_pool.spawn_blocking(in_pool).await?
        }
        _ => {
            // "process": this same program, re-run as a child process with the job.
            let (exe, job) = (exe.clone(), Job::Offload(iterations));
            let in_child = move || {
                let _job = info_span!("process job").entered();
                (Instant::now(), exe.run::<u64>(&job), Instant::now())
            };
            let (started, finished, ended) = off_thread("offload-waiter", in_child).await?;
            (started, finished?.result, ended)
        }
    })
}

/// Runs blocking `work` on a new thread named `name` and awaits its result: the thread's send
/// wakes the loop (this is how a process pool's result gets back to asyncio's loop, too).
pub(crate) fn off_thread<T: Send + 'static>(
    name: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = anyhow::Result<T>> {
    let (done, result) = futures::channel::oneshot::channel();
    let thread = std::thread::Builder::new().name(name.into());
    let thread = thread.spawn(move || drop(done.send(work())));
    async move {
        thread.context("cannot start a thread")?;
        result.await.context("a thread died before it answered")
    }
}

// ---- measuring it ----

/// asyncio's loop doing the same (`offload.py`): on the loop, `run_in_executor` with threads,
/// with processes.
const ASYNCIO: shared::python::Script =
    shared::python::Script::new("offload.py", include_str!("offload.py"));

/// Where the job runs (see the module's doc), named as its row; `run_job` takes any other
/// name for the child process.
const PLACES: [&str; 3] = ["on_loop", "spawn_blocking", "process"];

/// How often the ticker wants to run.
pub const TICK: Duration = Duration::from_millis(10);
/// The ticker runs alone for this long before the job starts, and after it ends.
const MARGIN: Duration = Duration::from_millis(50);
/// Below this share of a core, the job did not have one to itself.
const IDLE_CORE_SHARE: f64 = 0.8;

/// One row as the report and `--json` show it; `offload.py` answers its rows in this shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OffloadRow {
    /// The measurement's name.
    pub name: String,
    /// The whole row, ticker included.
    pub wall_ms: f64,
    /// The longest a tick ran after its due time.
    pub worst_tick_lateness_ms: f64,
    /// Ticks in all.
    pub ticks: usize,
    /// Ticks that ran while the job ran.
    pub ticks_during_job: usize,
    /// The job's length where it ran (for the child process: by the thread that waits).
    pub job_ms: f64,
    /// The longest stretch of the job with no tick (from its start, between ticks, to its end).
    pub longest_silence_ms: f64,
    /// The row's CPU time (nearly all the job's) per second of the job: 1 with a core to itself.
    pub job_cpu_per_s: f64,
    /// Whether the job got (nearly) a whole core: without one, other programs shared it.
    pub idle_core: bool,
}

/// Every row: `on_loop`, `spawn_blocking`, `process`, then, when Python runs, `asyncio_on_loop`,
/// `run_in_executor_threads`, `run_in_executor_processes`; and asyncio's jobs and ticks.
pub type Offload = Rows<OffloadRow>;

/// Every row, with this program as the child process; then asyncio's when Python runs.
pub fn measure(sizes: &Sizes) -> anyhow::Result<Offload> {
    let (exe, iterations) = (SelfExe::current()?, iterations_for(sizes.job_ms));
    let (mut rows, mut first) = (Vec::new(), None);
    for place in PLACES {
        let (row, checksum) = measure_place(place, iterations, &exe, sizes.trace)?;
        if *first.get_or_insert(checksum) != checksum {
            bail!("the job's checksum differs between rows: the same work was not done");
        }
        rows.push(row);
    }
    let mut spans = Vec::new();
    if let Some(python) = shared::narrate::python() {
        let args = [Duration::from_millis(sizes.job_ms), TICK, MARGIN];
        let args = args.map(|arg| arg.as_millis().to_string());
        let finished = python.run::<Vec<OffloadRow>>(&ASYNCIO, &args)?;
        rows.extend(finished.result);
        spans = finished.spans;
    }
    Ok(Rows { rows, spans })
}

/// Runs the demo and prints its report.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "CPU-bound work, made concurrent: hand it to a thread or a process",
        &format!(
            "A ticker wants to run every {} ms while a computation of {} ms of CPU time runs: \
             inside a task it starves the loop; on a thread pool or in a child process the \
             loop keeps ticking.",
            TICK.as_millis(),
            sizes.job_ms
        ),
    );
    let (measured, mut spans) = record("the job in each place", "", None, || measure(sizes));
    let Rows { rows, spans: more } = measured?;
    spans.extend(more);
    narrator.report(&Report::new("offload", SECTION, rows.clone()));
    narrator.say(
        "In the timeline each tick the ticker ran is a mark, and a gap is time it did not run. \
         A job's row is the thread that computed it; for the child process, the thread that \
         waited for the child.\n\n",
    );
    narrator.timeline("the job and the ticks, row by row", &spans);
    let how = [
        "the job runs inside a task, on the loop's own thread, and never awaits: the loop \
         polls nothing else until it returns",
        "the job runs on another thread (tokio's blocking pool) while the loop keeps polling; \
         asyncio's loop.run_in_executor(None, job), or asyncio.to_thread(job)",
        "the job runs in a child process, a thread of ours waits for it, and the loop keeps \
         polling; asyncio's loop.run_in_executor(ProcessPoolExecutor(), job)",
    ];
    let mut summary = Vec::new();
    for (row, how) in rows.iter().zip(how) {
        summary.push(format!(
            "{}: {how}. {} of {} ran during the {} job; the latest was {} late.",
            row.name,
            row.ticks_during_job,
            plural(row.ticks as u64, "tick", "ticks"),
            human_ms(row.job_ms),
            human_ms(row.worst_tick_lateness_ms)
        ));
    }
    // Whether the offloaded jobs had a core each beside the loop's thread, and what that meant.
    let offloaded = &rows[1..3];
    let shares: Vec<String> = (offloaded.iter())
        .map(|row| format!("{:.2}", row.job_cpu_per_s))
        .collect();
    let ticked = (offloaded.iter()).all(|row| row.longest_silence_ms < row.job_ms / 2.0);
    let why = match (offloaded.iter().all(|row| row.idle_core), ticked) {
        (true, _) => "each had a core to itself, beside the loop's thread",
        (false, true) => {
            "other programs shared the cores with them, but the OS still gave the \
             loop's thread its turns, so the ticks kept coming"
        }
        (false, false) => {
            "other programs shared the cores with them, and the loop's thread \
             waited for a CPU too: ticks were missed"
        }
    };
    let shares = shares.join(" and ");
    summary.push(format!(
        "The offloaded jobs used {shares} CPU-seconds per second: {why}."
    ));
    let gil = "In CPython a thread runs Python code only while it holds the GIL (sections \
               1.4-1.5), so for pure-Python work the process pool is the way; Rust threads have \
               no such lock.";
    summary.push(gil.into());
    if let [on_loop, threads, processes] = &rows[3..] {
        let late = |row: &OffloadRow| human_ms(row.worst_tick_lateness_ms);
        summary.push(format!(
            "asyncio's own loop, the same job in Python: on the loop the ticker was {} late \
             (the job took {}); with run_in_executor in a thread pool {}, and in a process \
             pool {}. The pool's thread holds the GIL while it computes, but CPython makes it \
             hand the GIL over every few milliseconds (sys.getswitchinterval()), so the loop \
             still ticks.",
            late(on_loop),
            human_ms(on_loop.job_ms),
            late(threads),
            late(processes)
        ));
    }
    narrator.summary("1.7 and its summary", &summary);
    Ok(())
}

/// How many iterations of [`cpu_job`] take about `job_ms` of CPU time on this machine:
/// measured for 20 ms of this thread's CPU time, not assumed. CPU time, not wall time: on a
/// busy machine the wall clock also counts the time other programs had the core, which would
/// make the job too small; there the job takes longer on the wall instead.
fn iterations_for(job_ms: u64) -> u64 {
    const CHUNK: u64 = 1 << 16;
    let (started, wall, mut done) = (thread_cpu_time(), Instant::now(), 0);
    let used = || thread_cpu_time().saturating_sub(started);
    // The wall clock bounds it where no CPU clock exists (it then reads zero).
    while used() < Duration::from_millis(20) && wall.elapsed() < Duration::from_secs(1) {
        black_box(cpu_job(CHUNK));
        done += CHUNK;
    }
    let spent = Some(used()).filter(|cpu| !cpu.is_zero());
    let per_iteration = spent.unwrap_or(wall.elapsed()).as_secs_f64() / done as f64;
    ((job_ms as f64 / 1e3 / per_iteration) as u64).max(1)
}

/// One row on a fresh loop: the ticker starts, then the job runs at `place`, then the ticker
/// runs a little longer and stops; and the job's checksum. `trace`: `--trace`.
fn measure_place(
    place: &'static str,
    iterations: u64,
    exe: &SelfExe,
    trace: bool,
) -> anyhow::Result<(OffloadRow, u64)> {
    // Only its blocking thread pool is used.
    let blocking_pool = super::tokio_runtime()?;
    let event_loop = EventLoop::new()?;
    // This process's CPU time and its ended children's: nearly all of it the job's.
    let cpu = || shared::timing::process_cpu_time() + shared::timing::children_cpu_time();
    let (started, cpu_before) = (Instant::now(), cpu());
    let ticks = Rc::new(RefCell::new(Vec::new()));
    let (ran, _) = observe::counted(trace, || {
        event_loop.block_on(async {
            let stop = Rc::new(Cell::new(false));
            let ticker = {
                let (ticks, stop) = (Rc::clone(&ticks), Rc::clone(&stop));
                spawn(async move {
                    while !stop.get() {
                        let due = Instant::now() + TICK;
                        sleep(TICK).await;
                        // Each tick is a span: a gap in its row is time the loop did not run it.
                        let _tick = info_span!("ticker", place).entered();
                        ticks.borrow_mut().push((due, Instant::now()));
                    }
                })
            };
            sleep(MARGIN).await;
            let (started, checksum, ended) =
                run_job(place, iterations, blocking_pool.handle(), exe).await?;
            sleep(MARGIN).await;
            stop.set(true);
            ticker.await?;
            anyhow::Ok(((started, ended), checksum))
        })
    });
    let (((start, end), checksum), wall) = (ran?, started.elapsed());
    let (cpu, ticks) = (cpu().saturating_sub(cpu_before), ticks.take());
    // The row, from when the job ran and each tick's due and run times.
    let ran = ticks.iter().map(|&(_, ran)| ran);
    let during = || ran.clone().filter(|&ran| ran > start && ran < end);
    let moments: Vec<Instant> = [start].into_iter().chain(during()).chain([end]).collect();
    let silence = moments.windows(2).map(|pair| pair[1] - pair[0]).max();
    let lateness = |&(due, ran): &(Instant, Instant)| ran.saturating_duration_since(due);
    let late = ticks.iter().map(lateness).max();
    let job_cpu_per_s = ratio(cpu.as_secs_f64(), (end - start).as_secs_f64());
    let row = OffloadRow {
        name: place.into(),
        wall_ms: ms(wall),
        worst_tick_lateness_ms: ms(late.unwrap_or_default()),
        ticks: ticks.len(),
        ticks_during_job: during().count(),
        job_ms: ms(end - start),
        longest_silence_ms: ms(silence.unwrap_or_default()),
        job_cpu_per_s,
        idle_core: job_cpu_per_s >= IDLE_CORE_SHARE,
    };
    Ok((row, checksum))
}
