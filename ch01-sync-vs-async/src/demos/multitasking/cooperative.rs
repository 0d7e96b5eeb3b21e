//! Section 1.3, cooperative multitasking: tasks on ONE thread take turns only where their code
//! says so (an `.await` that yields). A task that never yields keeps everyone else waiting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use shared::{SpanKind, SpanRecorder};

use super::busy::spin_for;

/// Span label of the task that never yields in `starved`.
pub const HOG: &str = "hog (never yields)";
/// Span label of the task that waits for its turn in `starved`.
pub const POLITE: &str = "polite task";

/// A current-thread runtime: every task runs on the thread that calls `block_on`.
fn one_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the tokio runtime")
}

/// One step of work, then `yield_now`: the only point where the other task can get the thread.
async fn take_turns(name: &'static str, steps: u32, step: Duration, recorder: Arc<SpanRecorder>) {
    for _ in 0..steps {
        recorder.in_span(name, SpanKind::Cpu, || spin_for(step));
        yield_now().await;
    }
}

/// The smallest possible await point: ask to be polled again, then return `Pending` once. The
/// runtime puts the task at the back of its queue, so the other task gets the next turn.
///
/// `tokio::task::yield_now` does the same, but it holds the wake-ups back until the runtime has
/// checked for I/O and then replays them newest first, so two tasks take their turns in pairs
/// (A, B, B, A, A, ...). This one keeps the turns strictly alternating, which is easier to read.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

/// Two tasks, `steps` steps of `step` each, on one thread. Spans: one per step.
pub fn cooperative(steps: u32, step: Duration, recorder: &Arc<SpanRecorder>) -> anyhow::Result<()> {
    let runtime = one_thread_runtime()?;
    runtime.block_on(async {
        let a = tokio::spawn(take_turns("task A", steps, step, Arc::clone(recorder)));
        let b = tokio::spawn(take_turns("task B", steps, step, Arc::clone(recorder)));
        a.await.context("task A failed")?;
        b.await.context("task B failed")?;
        anyhow::Ok(())
    })
}

/// A hog that spins for `busy` without ever awaiting, and a polite task spawned right after it.
/// Returns how long the polite task waited for its first turn (`starved_ms`).
pub fn starved(
    busy: Duration,
    steps: u32,
    step: Duration,
    recorder: &Arc<SpanRecorder>,
) -> anyhow::Result<Duration> {
    let runtime = one_thread_runtime()?;
    runtime.block_on(async {
        let spawned_at = Instant::now();
        let hog = tokio::spawn({
            let recorder = Arc::clone(recorder);
            async move { recorder.in_span(HOG, SpanKind::Cpu, || spin_for(busy)) }
        });
        let polite = tokio::spawn({
            let recorder = Arc::clone(recorder);
            async move {
                let first_turn = Instant::now();
                // Ready since it was spawned, but the thread was not free: draw the wait.
                recorder.record(POLITE, SpanKind::Idle, spawned_at, first_turn);
                take_turns(POLITE, steps, step, Arc::clone(&recorder)).await;
                first_turn - spawned_at
            }
        });
        hog.await.context("the hog task failed")?;
        polite.await.context("the polite task failed")
    })
}
