//! Section 1.5: a model of CPython's global interpreter lock: a bytecode interpreter
//! ([`interpreter`]) and the lock ([`lock`]). The runs that compare them live in the `gil` demo.

pub mod interpreter;
pub mod lock;

pub use lock::{Gil, PyThread};
