//! Section 1.5: a model of CPython's global interpreter lock: a bytecode interpreter
//! ([`interpreter`]), the lock ([`lock`]), and the runs the demo compares ([`runs`]).

pub mod interpreter;
pub mod lock;
pub mod runs;

pub use lock::{Gil, PyThread};
pub use runs::{
    Calibration, IO_TASK_FIB, RunOutcome, calibrate, calibrate_fib, io_sequential, io_threads,
    rayon_join, sequential, two_processes, two_threads,
};
