#![doc = include_str!("../README.md")]

pub mod affinity;
pub mod child;
pub mod cli;
pub mod fdlimit;
pub mod narrate;
pub mod python;
pub mod report;
pub mod server;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timeline;
pub mod timing;
pub mod trace;
pub mod workloads;

pub use narrate::Narrator;
pub use report::Report;
pub use server::SlowServer;
pub use timing::{Stopwatch, Usage};
pub use trace::{Recording, Span};
