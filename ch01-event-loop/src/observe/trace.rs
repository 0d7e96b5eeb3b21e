//! Section 1.7, `--trace`: one line per iteration of the loop, so a learner can watch it run the
//! ready tasks, wait, and wake what became ready.
//!
//! ```text
//! [loop] iteration 2: polled 5 tasks (#0 #1 #2 #3 #4) for 0.4 ms | waited 0.0 ms | 5 I/O events, 0 timers fired
//! ```

use std::io::Write;
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::{Iteration, PolledTask, TARGET};

/// At most this many lines are printed, so a benchmark cannot flood the terminal.
pub const PRINT_LIMIT: u64 = 200;
/// Task ids listed per line; the rest are counted.
const IDS_SHOWN: usize = 6;

/// A `tracing` layer that prints the loop's iterations.
pub struct TraceLayer {
    state: Mutex<State>,
}

struct State {
    out: Box<dyn Write + Send>,
    /// Tasks polled so far in the current iteration.
    polled: Vec<String>,
    printed: u64,
}

impl TraceLayer {
    /// Prints to standard error.
    pub fn stderr() -> Self {
        Self::to(Box::new(std::io::stderr()))
    }

    /// Prints to `out` (a test passes a buffer).
    pub fn to(out: Box<dyn Write + Send>) -> Self {
        let polled = Vec::new();
        let state = Mutex::new(State {
            out,
            polled,
            printed: 0,
        });
        Self { state }
    }
}

impl<S: Subscriber> Layer<S> for TraceLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let fields = event.metadata().fields();
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if fields.field("iteration").is_some() {
            let mut iteration = Iteration::default();
            event.record(&mut iteration);
            iteration.first_polled = std::mem::take(&mut state.polled);
            state.printed += 1;
            // A closed standard error must not stop the loop: printing is best effort.
            let _ = match state.printed {
                n if n <= PRINT_LIMIT => writeln!(state.out, "[loop] {iteration}"),
                n if n == PRINT_LIMIT + 1 => writeln!(
                    state.out,
                    "[loop] ... more iterations not printed (limit {PRINT_LIMIT})"
                ),
                _ => Ok(()),
            };
        } else if *event.metadata().level() == Level::TRACE && state.polled.len() < IDS_SHOWN {
            let mut task = PolledTask::default();
            event.record(&mut task);
            state.polled.push(task.to_string());
        }
    }
}
