//! Section 1.7: an event loop built from scratch, one file per part, each readable on its own.
//! The crate's README (its documentation) maps each file to asyncio and says in which order to
//! read them. Beside the mechanism: `outside.rs` (a panicked task's error text, and counts a test
//! reads between runs).

mod context;
mod executor;
mod net;
mod outside;
mod reactor;
mod task;
mod timers;
mod waker;

pub use context::{sleep, sleep_until, spawn, yield_now};
pub use executor::{EventLoop, block_on};
pub use net::{TcpListener, TcpStream};
pub use task::{JoinError, JoinHandle, TaskId};
