//! Section 1.7, demo `cooperative`: the loop runs one task at a time "until it hits an I/O
//! operation". A task that never awaits never gives the loop back: two tickers that want to run
//! every 10 ms stall for the whole computation, and the trace shows one long iteration. The same
//! computation with an `await` every millisecond lets them keep time.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::legacy::report::{DemoReport, Measurement};
use shared::legacy::{Narrator, SpanKind, SpanRecorder};

use crate::cli::Sizes;
use crate::event_loop::{EventLoop, sleep, spawn, yield_now};
use crate::observe::{self, Iteration};

/// The demo's name in `--help` and `--json`.
pub const NAME: &str = "cooperative";
/// How often each ticker wants to run.
pub const TICK: Duration = Duration::from_millis(10);
const TICKERS: usize = 2;
/// The greedy task starts after the tickers have ticked a few times.
const HEAD_START: Duration = Duration::from_millis(30);
/// Later than this after its deadline, a ticker's wait is drawn as "waiting for the loop".
const LATE: Duration = Duration::from_millis(2);

/// What one variant measured.
#[derive(Debug, Clone)]
pub struct CooperativeRun {
    /// The whole run.
    pub wall: Duration,
    /// The longest time any ticker woke up after its deadline.
    pub worst_lateness: Duration,
    /// The iteration that ran longest (time inside tasks).
    pub longest: Iteration,
    /// Iterations made.
    pub iterations: u64,
}

/// Both variants' results.
#[derive(Debug, Clone)]
pub struct Cooperative {
    /// The greedy task computes without awaiting.
    pub never_awaits: CooperativeRun,
    /// The same work, awaiting every millisecond.
    pub awaits_every_ms: CooperativeRun,
}

/// Runs the demo, prints its report, and returns both variants' results.
pub fn run(narrator: &Narrator, sizes: &Sizes) -> anyhow::Result<Cooperative> {
    let hog = Duration::from_millis(sizes.hog_ms);
    narrator.header(
        "1.7",
        "How an event loop works: one task at a time, until it awaits",
        &format!(
            "A task computes for {} ms without awaiting: the loop cannot run anything else \
             meanwhile, so two tickers that want to run every {} ms fall silent.",
            sizes.hog_ms,
            TICK.as_millis()
        ),
    );
    let greedy_spans = Arc::new(SpanRecorder::new());
    let greedy = run_variant(hog, false, sizes.trace, &greedy_spans)?;
    let polite_spans = Arc::new(SpanRecorder::new());
    let polite = run_variant(hog, true, false, &polite_spans)?;

    let mut report = DemoReport::new(NAME, "1.7");
    for (name, run) in [("never_awaits", &greedy), ("awaits_every_ms", &polite)] {
        report.push(
            Measurement::new(name, run.wall)
                .field("longest_iteration_ms", ms(run.longest.ran))
                .field("worst_tick_lateness_ms", ms(run.worst_lateness))
                .field("iterations", run.iterations as f64),
        );
    }
    narrator.report(&report, None);
    narrator.say(format!(
        "longest iteration, never awaits:  {}",
        greedy.longest
    ));
    narrator.say(format!(
        "longest iteration, awaits often:  {}",
        polite.longest
    ));
    narrator.say(
        "In the timelines a ticker's sleep is idle; once due, the time it waits for the busy \
         loop to poll it is drawn as waiting for a lock (the loop's one thread).",
    );
    narrator.timeline("the greedy task never awaits", &greedy_spans.spans());
    narrator.timeline(
        "the same work, awaiting every millisecond",
        &polite_spans.spans(),
    );
    narrator.summary(
        "1.7",
        &[
            &format!(
                "Never awaiting: one iteration ran {:.0} ms of task code and the tickers woke up to \
                 {:.0} ms late. The loop runs tasks one at a time; it only gets control back when \
                 a task awaits.",
                ms(greedy.longest.ran),
                ms(greedy.worst_lateness)
            ),
            &format!(
                "Awaiting every millisecond: the longest iteration was {:.1} ms and the tickers were \
                 at most {:.1} ms late. Concurrency on one thread is cooperative.",
                ms(polite.longest.ran),
                ms(polite.worst_lateness)
            ),
        ],
    );
    Ok(Cooperative {
        never_awaits: greedy,
        awaits_every_ms: polite,
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Two tickers and one greedy task on a fresh loop; `polite` makes the greedy task await
/// (`yield_now`) every millisecond of its computation.
pub fn run_variant(
    hog: Duration,
    polite: bool,
    trace: bool,
    recorder: &Arc<SpanRecorder>,
) -> anyhow::Result<CooperativeRun> {
    let (stats, _watching) = observe::watch(trace);
    let event_loop = EventLoop::new()?;
    let started = Instant::now();
    let worst_lateness = event_loop.block_on(async {
        let finished = Rc::new(Cell::new(false));
        let tickers: Vec<_> = (1..=TICKERS)
            .map(|n| {
                let finished = Rc::clone(&finished);
                let recorder = Arc::clone(recorder);
                spawn(async move {
                    let mut worst = Duration::ZERO;
                    while !finished.get() {
                        let asleep = Instant::now();
                        sleep(TICK).await;
                        let awake = Instant::now();
                        let due = asleep + TICK;
                        worst = worst.max(awake.duration_since(due));
                        let row = format!("ticker {n}");
                        recorder.record(row.clone(), SpanKind::Idle, asleep, due.min(awake));
                        // Due but not running: the one thread is busy elsewhere, much like
                        // waiting for a lock that another task holds.
                        if awake > due + LATE {
                            recorder.record(row, SpanKind::WaitLock, due, awake);
                        }
                    }
                    worst
                })
            })
            .collect();
        sleep(HEAD_START).await;
        let greedy = if polite {
            "greedy, awaits"
        } else {
            "greedy, never awaits"
        };
        let computing = Instant::now();
        let mut last_await = computing;
        while computing.elapsed() < hog {
            std::hint::spin_loop();
            if polite && last_await.elapsed() >= Duration::from_millis(1) {
                recorder.record(greedy, SpanKind::Cpu, last_await, Instant::now());
                yield_now().await;
                last_await = Instant::now();
            }
        }
        recorder.record(greedy, SpanKind::Cpu, last_await, Instant::now());
        finished.set(true);
        let mut worst = Duration::ZERO;
        for ticker in tickers {
            worst = worst.max(ticker.await?);
        }
        anyhow::Ok(worst)
    })?;
    let counts = stats.get();
    Ok(CooperativeRun {
        wall: started.elapsed(),
        worst_lateness,
        longest: counts.longest,
        iterations: counts.iterations,
    })
}
