//! Section 1.7, demo `cooperative`: the loop runs one task at a time "until it hits an I/O
//! operation". A task that never awaits never gives the loop back: two tickers that want to run
//! every 10 ms stall for the whole computation, and the trace shows one long iteration. The same
//! computation with an `await` every millisecond lets them keep time.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Serialize;
use shared::report::as_ms;
use shared::timing::{human_ms, ms, ratio, thread_cpu_time};
use shared::{Narrator, Report, Stopwatch};
use tracing::{Instrument as _, info_span};

use super::{BUSY_WAIT_SHARE, SECTION};
use crate::cli::Sizes;
use crate::event_loop::{EventLoop, sleep, sleep_until, spawn, yield_now};
use crate::observe::{self, Iteration, schedstat};

/// How often each ticker wants to run.
pub const TICK: Duration = Duration::from_millis(10);
const TICKERS: usize = 2;
/// The greedy task starts after the tickers have ticked a few times.
const HEAD_START: Duration = Duration::from_millis(30);

// ---- the lesson: two tickers and a task that computes ----

/// Two tickers that want to run every [`TICK`] (each tick is a span, `ticker 1` and
/// `ticker 2`), and a task that computes for `hog`: without awaiting, or (`polite`) with an
/// `await asyncio.sleep(0)`-style [`yield_now`] every millisecond. Run it with
/// [`EventLoop::block_on`](crate::event_loop::EventLoop::block_on). Returns how late the
/// latest tick was.
pub async fn tickers_beside_a_computation(hog: Duration, polite: bool) -> anyhow::Result<Duration> {
    let finished = Rc::new(Cell::new(false));
    let tickers: Vec<_> = (1..=TICKERS)
        .map(|n| spawn(ticker(n, Rc::clone(&finished))))
        .collect();
    sleep(HEAD_START).await;
    // The span is entered whenever the loop polls the computation, and left at each await.
    let span = match polite {
        true => info_span!("greedy, awaits"),
        false => info_span!("greedy, never awaits"),
    };
    compute(hog, polite).instrument(span).await;
    finished.set(true);
    let lateness = futures::future::try_join_all(tickers).await?;
    Ok(lateness.into_iter().max().unwrap_or_default())
}

/// Sleeps [`TICK`] again and again until `finished`; returns the worst lateness of a wake-up.
/// Each tick's run is a span: where the loop's thread was busy elsewhere, the row has a gap.
async fn ticker(n: usize, finished: Rc<Cell<bool>>) -> Duration {
    let mut worst = Duration::ZERO;
    while !finished.get() {
        let due = Instant::now() + TICK;
        sleep_until(due).await;
        let tick = info_span!("ticker", n);
        tick.in_scope(|| worst = worst.max(Instant::now().saturating_duration_since(due)));
    }
    worst
}

/// Spins for `hog` of this thread's CPU time, awaiting every millisecond of it when `polite`.
/// CPU time, not wall time: on a busy machine the wall clock also counts other programs' turns.
async fn compute(hog: Duration, polite: bool) {
    // mutants: `<` for `<=` below is equivalent (one spin more), and so are `<` for `>=` and
    // `+` for the second `-` (always at least 1 ms): the task then awaits after every spin, even
    // more often, which is still the polite variant.
    let started = thread_cpu_time();
    let mut last_await = started;
    while thread_cpu_time() - started < hog {
        std::hint::spin_loop();
        if polite && thread_cpu_time() - last_await >= Duration::from_millis(1) {
            yield_now().await;
            last_await = thread_cpu_time();
        }
    }
}

// ---- measuring it ----

/// What one variant measured, as the report and `--json` show it.
#[derive(Debug, Clone, Serialize)]
pub struct CooperativeRun {
    /// `never_awaits` or `awaits_every_ms`.
    pub name: &'static str,
    /// The whole run.
    #[serde(rename = "wall_ms", serialize_with = "as_ms")]
    pub wall: Duration,
    /// The iteration that ran longest (time inside tasks).
    #[serde(rename = "longest_iteration_ms", serialize_with = "ran_ms")]
    pub longest: Iteration,
    /// The longest time any ticker woke up after its deadline.
    #[serde(rename = "worst_tick_lateness_ms", serialize_with = "as_ms")]
    pub worst_lateness: Duration,
    /// Iterations made.
    pub iterations: u64,
    /// Share of the run the loop's thread waited for a CPU (other programs' turns; 0 off Linux).
    pub cpu_wait_share: f64,
    /// Whether that share stayed below `BUSY_WAIT_SHARE`: the thread had a core.
    pub idle_core: bool,
}

/// An iteration's time inside tasks, in milliseconds.
fn ran_ms<S: serde::Serializer>(longest: &Iteration, to: S) -> Result<S::Ok, S::Error> {
    as_ms(&longest.ran, to)
}

/// Both variants' results: `never_awaits`, then `awaits_every_ms`.
pub type Cooperative = [CooperativeRun; 2];

/// Both variants, never awaiting first (`--trace` follows that one only).
pub fn measure(sizes: &Sizes) -> anyhow::Result<Cooperative> {
    let hog = Duration::from_millis(sizes.hog_ms);
    let never_awaits = variant(hog, false, sizes.trace)?;
    Ok([never_awaits, variant(hog, true, false)?])
}

/// Runs the demo and prints its report.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "How an event loop works: one task at a time, until it has to wait",
        &format!(
            "A task computes for {} ms of CPU time without awaiting: the loop cannot run \
             anything else meanwhile, so two tickers that want to run every {} ms fall silent.",
            sizes.hog_ms,
            TICK.as_millis()
        ),
    );
    let what = "the greedy task, then the polite one";
    let (measured, spans) = shared::narrate::record(what, "", None, || measure(sizes));
    let measured = measured?;
    narrator.report(&Report::new("cooperative", SECTION, measured.to_vec()));
    let [greedy, polite] = &measured;
    narrator.say(format!(
        "longest iteration, never awaits:  {}\nlongest iteration, awaits often:  {}\n\n\
         In the timeline a ticker's row marks each tick it ran: a gap is time it was due but \
         the loop's one thread was busy. Each computation's row runs whenever the loop polls \
         it: first the one that never awaits, then the one that awaits every millisecond.\n\n",
        greedy.longest, polite.longest
    ));
    narrator.timeline(what, &spans);
    let late = |r: &CooperativeRun| [r.longest.ran, r.worst_lateness].map(|d| human_ms(ms(d)));
    let ([greedy_ran, greedy_late], [polite_ran, polite_late]) = (late(greedy), late(polite));
    let wait = match polite.idle_core {
        true => "it had a core, so the lateness left is the loop's own.",
        false => {
            "other programs were busy on the cores, and that wait, not the computation, made \
             the tickers late there."
        }
    };
    let summary = [
        format!(
            "Never awaiting: one iteration ran {greedy_ran} of task code and the tickers woke \
             up to {greedy_late} late. The loop runs tasks one at a time; it gets control back \
             only when a task's poll returns Pending, at an await on something not ready."
        ),
        format!(
            "Awaiting every millisecond: the longest iteration was {polite_ran} and the \
             tickers were at most {polite_late} late. Concurrency on one thread is cooperative."
        ),
        format!(
            "The loop's thread waited for a CPU {:.0}% of the polite run: {wait}",
            polite.cpu_wait_share * 100.0
        ),
    ];
    narrator.summary(SECTION, &summary);
    Ok(())
}

/// Two tickers and one greedy task on a fresh loop, counted; `polite` makes the greedy task
/// await every millisecond of its computation.
fn variant(hog: Duration, polite: bool, trace: bool) -> anyhow::Result<CooperativeRun> {
    let event_loop = EventLoop::new()?;
    let (stopwatch, wait_before) = (Stopwatch::start(), schedstat("thread-self").1);
    let (worst_lateness, counts) = observe::counted(trace, || {
        event_loop.block_on(tickers_beside_a_computation(hog, polite))
    });
    let cpu_wait = schedstat("thread-self").1.saturating_sub(wait_before);
    let wall = stopwatch.elapsed();
    let cpu_wait_share = ratio(cpu_wait.as_secs_f64(), wall.as_secs_f64());
    Ok(CooperativeRun {
        name: ["never_awaits", "awaits_every_ms"][usize::from(polite)],
        wall,
        worst_lateness: worst_lateness?,
        longest: counts.longest,
        iterations: counts.iterations,
        cpu_wait_share,
        idle_core: cpu_wait_share < BUSY_WAIT_SHARE,
    })
}
