//! The four demos of sections 1.1-1.3, one module each, in the order of the notes.

pub mod background;
pub mod io_vs_cpu;
pub mod multitasking;
pub mod requests;
