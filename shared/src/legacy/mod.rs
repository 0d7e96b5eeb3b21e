//! The recorder, report and narrator that sections 1.4 to 1.7 still use, until they move onto
//! [`trace`](crate::trace), [`report`](crate::report) and [`narrate`](crate::narrate) as sections
//! 1.1 to 1.3 have. New code should not use this module; it goes away once nothing does.

pub mod narrate;
pub mod report;
pub mod spans;
pub mod timeline;

pub use narrate::Narrator;
pub use report::{DemoReport, Measurement};
pub use spans::{Span, SpanKind, SpanRecorder};
