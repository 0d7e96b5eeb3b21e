//! Section 1.7: an event loop built from scratch, one file per part, each readable on its own.
//!
//! | file | part of the loop | asyncio |
//! | --- | --- | --- |
//! | `executor.rs` | the loop: `block_on`; one iteration = run the ready tasks, then wait | `run_until_complete`, `_run_once` |
//! | `context.rs` | the running loop as tasks see it: `spawn`, `sleep`, `yield_now` | `get_running_loop`, `create_task`, `sleep` |
//! | `task.rs` | a task (a boxed future), the table of tasks, join handles | `Task` |
//! | `waker.rs` | the ready queue and the waker that puts a task back on it | `loop._ready` |
//! | `reactor.rs` | mio `Poll`: which sockets are ready; wakes their tasks | `selectors` |
//! | `timers.rs` | deadlines, sorted, that bound the wait | `loop._scheduled`, `call_at` |
//! | `net.rs` | `TcpStream`, `TcpListener`: `Pending` until the OS says ready | `sock_recv`, `sock_sendall` |
//!
//! `reactor.rs`, `timers.rs` and `task.rs` import nothing from the other files, and `waker.rs`
//! only a task's id: read them first. Outside the mechanism: `join_error.rs` (a panicked task's
//! error text) and `inspect.rs` (counts a test reads between runs).

mod context;
mod executor;
mod inspect;
mod join_error;
mod net;
mod reactor;
mod task;
mod timers;
mod waker;

pub use context::{sleep, sleep_until, spawn, yield_now};
pub use executor::{EventLoop, block_on};
pub use net::{TcpListener, TcpStream};
pub use task::{JoinError, JoinHandle, TaskId};
