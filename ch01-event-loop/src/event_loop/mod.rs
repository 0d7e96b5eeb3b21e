//! Section 1.7: an event loop built from scratch, one file per part, each readable on its own.
//! The crate's README (its documentation) maps each file to asyncio and says in which order to
//! read them. Outside the mechanism: `join_error.rs` (a panicked task's error text) and
//! `inspect.rs` (counts a test reads between runs).

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
