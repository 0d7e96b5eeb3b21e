//! Section 1.1: the main task keeps working while a background task runs, and is notified when
//! the background task is done.

use ch01_sync_vs_async::Sizes;
use ch01_sync_vs_async::demos::background;
use shared::trace::named;

#[test]
fn main_ticks_happen_while_the_background_task_runs() {
    let rows = background::measure(&Sizes::from_flags("--background-ms 600")).unwrap();
    let python = shared::testing::python().is_some();
    assert_eq!(rows.len(), 1 + python as usize, "{rows:?}");
    // Each row: the main task ticked while the background task ran, and had its result at once.
    for measured in &rows {
        assert!(measured.main_ticks > 0);
        assert_eq!(measured.status, 200);
        let task = named(&measured.spans, "background task");
        let ticks = named(&measured.spans, "main task");
        assert_eq!(task.len(), 1);
        assert_eq!(ticks.len() as u64, measured.main_ticks);
        // The first tick comes a tick after the start, not at once: the main task had its own
        // work to pace, not a result to check.
        assert!(ticks[0].opened >= task[0].opened + std::time::Duration::from_millis(50));
        // Every tick happened while the background task was still open: the main task was not
        // blocked by it.
        assert!(ticks.iter().all(|tick| task[0].contains(tick)));
        // The background task spent its time waiting, not computing.
        assert!(task[0].cpu() < task[0].wall() / 2);
        // The notification: the main task had the result right after the task ended, not at its
        // next tick. A main task that checked for the result only when it ticked (polling) would
        // learn of it up to a whole tick late; 600 ms is a multiple of the 100 ms tick, so it
        // would be nearly a whole tick late here.
        assert_eq!(measured.tick_every_ms, 100.0);
        let notified = measured.notified_after_ms;
        assert!(notified < measured.tick_every_ms / 2.0, "{notified:.1} ms");
        assert_eq!(measured.threads_used, 1);
    }
}
