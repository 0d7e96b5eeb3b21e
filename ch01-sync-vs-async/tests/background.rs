//! Section 1.1: the main task keeps working while a background task runs, and is notified when
//! the background task is done.

use ch01_sync_vs_async::Sizes;
use ch01_sync_vs_async::demos::background::{self, BACKGROUND_TASK, MAIN_TASK};
use shared::narrate::{Mode, Narrator};

#[test]
fn main_ticks_happen_while_the_background_task_runs() {
    let sizes = Sizes {
        background_ms: 300,
        ..Sizes::default()
    };
    let narrator = Narrator::with_mode(Mode::Json, false);
    let outcome = background::measure(&sizes, None, &narrator).unwrap();
    let ticks = outcome.field("background", "main_ticks").unwrap();
    assert!(ticks > 0.0);

    let spans = outcome.spans_of("background");
    let task: Vec<_> = spans.iter().filter(|s| s.task == BACKGROUND_TASK).collect();
    let main: Vec<_> = spans.iter().filter(|s| s.task == MAIN_TASK).collect();
    assert_eq!(task.len(), 1);
    assert_eq!(main.len() as f64, ticks);
    // Every tick happened while the background task was still running.
    assert!(main.iter().all(|tick| task[0].contains(tick)));
    // The notification came after the task ended, not before: wall >= the task's own span.
    assert!(
        outcome.field("background", "wall_ms").unwrap()
            >= outcome.field("background", "task_ms").unwrap()
    );
    assert_eq!(outcome.field("background", "threads_used"), Some(1.0));
}
