//! Section 1.7: an event loop built from scratch, one file per part.
//!
//! | file | part of the loop |
//! | --- | --- |
//! | `executor.rs` | the loop: `block_on`, `spawn`, one iteration = run the ready tasks, then wait |
//! | `task.rs` | tasks (pinned boxed futures), the table that holds them, join handles |
//! | `waker.rs` | the queue of ready tasks and the waker that puts a task back on it |
//! | `reactor.rs` | mio `Poll`: which sockets are ready; wakes the tasks waiting on them |
//! | `net.rs` | `TcpStream` / `TcpListener` that return `Pending` until the OS says ready |
//! | `timers.rs` | `sleep`, `sleep_until`: a heap of deadlines that bounds the wait |
//! | `stats.rs` | counters: iterations, polls, wakeups, I/O events, timers fired |
//! | `trace.rs` | `--trace`: one line per iteration |

mod executor;
mod net;
mod reactor;
mod stats;
mod task;
mod timers;
mod trace;
mod waker;

pub use executor::{EventLoop, block_on, spawn, yield_now};
pub use net::{TcpListener, TcpStream};
pub use stats::Stats;
pub use task::{JoinError, JoinHandle, TaskId};
pub use timers::{Sleep, sleep, sleep_until};
pub use trace::{Iteration, PRINT_LIMIT};
