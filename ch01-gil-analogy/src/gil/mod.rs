//! Section 1.5: a model of CPython's GIL, a bytecode [`interpreter`] and its [`lock`].

pub mod interpreter;
pub mod lock;

pub use lock::{Gil, PyThread};
