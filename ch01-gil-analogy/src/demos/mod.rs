//! The demos, one module each, in the order of the notes (sections 1.4 and 1.5).

pub mod coroutines;
pub mod cpython;
pub mod gil;
pub mod processes_and_threads;
pub mod refcount;
