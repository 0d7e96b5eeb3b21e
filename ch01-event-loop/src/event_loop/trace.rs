//! Section 1.7 made visible: `--trace` prints one line per iteration of the loop, so a learner can
//! watch it run the ready tasks, wait, and wake what became ready.
//!
//! ```text
//! [loop] iteration 2: polled 100 tasks (#0 #1 #2 #3 ...) for 3.1 ms | waited 500.9 ms | 100 I/O events, 0 timers fired
//! ```

use std::fmt;
use std::time::Duration;

use super::task::TaskId;

/// At most this many iterations are printed per loop, so a benchmark cannot flood the terminal.
pub const PRINT_LIMIT: u64 = 200;
/// At most this many iterations are kept in memory.
pub const KEEP_LIMIT: usize = 100_000;
/// Task ids listed per line; the rest are counted.
const IDS_SHOWN: usize = 6;

/// What happened in one iteration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Iteration {
    /// Counted from 1.
    pub number: u64,
    /// How many polls the iteration made.
    pub polled: u64,
    /// The first few tasks it polled, in order.
    pub first_polled: Vec<TaskId>,
    /// Time spent inside tasks' `poll` (the loop cannot wait while a task runs).
    pub ran: Duration,
    /// Time spent blocked in the OS waiting for I/O or the next timer.
    pub waited: Duration,
    /// Readiness events the OS reported.
    pub io_events: u64,
    /// Timers that fired at the end of the iteration.
    pub timers_fired: u64,
    /// Whether to note task ids (only when tracing: it costs an allocation per iteration).
    pub(crate) keep_ids: bool,
}

impl Iteration {
    pub(crate) fn note_poll(&mut self, id: TaskId) {
        self.polled += 1;
        if self.keep_ids && self.first_polled.len() < IDS_SHOWN {
            self.first_polled.push(id);
        }
    }
}

impl fmt::Display for Iteration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.polled == 1 { "task" } else { "tasks" };
        write!(
            f,
            "iteration {}: polled {} {plural}",
            self.number, self.polled
        )?;
        if self.polled > 0 {
            let ids: Vec<String> = self.first_polled.iter().map(TaskId::to_string).collect();
            let more = if self.polled as usize > ids.len() {
                " ..."
            } else {
                ""
            };
            write!(f, " ({}{more})", ids.join(" "))?;
        }
        write!(
            f,
            " for {} | waited {} | {} I/O events, {} timers fired",
            ms(self.ran),
            ms(self.waited),
            self.io_events,
            self.timers_fired
        )
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

/// Where iterations go: printed to standard error (`--trace`), kept in memory (for demos and
/// tests that look at them afterwards), or both.
#[derive(Debug, Default)]
pub(crate) struct Tracer {
    pub(crate) print: bool,
    pub(crate) keep: bool,
    pub(crate) kept: Vec<Iteration>,
}

impl Tracer {
    /// True when iterations need to be collected at all (the common, untraced case skips it).
    pub(crate) fn active(&self) -> bool {
        self.print || self.keep
    }

    pub(crate) fn record(&mut self, iteration: Iteration) {
        if self.print {
            if iteration.number <= PRINT_LIMIT {
                eprintln!("[loop] {iteration}");
            } else if iteration.number == PRINT_LIMIT + 1 {
                eprintln!("[loop] ... more iterations not printed (limit {PRINT_LIMIT})");
            }
        }
        if self.keep && self.kept.len() < KEEP_LIMIT {
            self.kept.push(iteration);
        }
    }
}
