#![doc = include_str!("../README.md")]

pub mod cli;
pub mod fdlimit;
pub mod narrate;
pub mod report;
pub mod server;
pub mod spans;
pub mod timeline;
pub mod timing;
pub mod workloads;

pub use narrate::Narrator;
pub use report::{DemoReport, Measurement};
pub use server::SlowServer;
pub use spans::{Span, SpanKind, SpanRecorder};
pub use timing::{Stopwatch, Usage, timed, timed_async};
