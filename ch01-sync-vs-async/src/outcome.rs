//! What a demo hands back (sections 1.1-1.3): the measured report, and the spans behind each
//! measurement, so the narration can draw them and the tests can check them.

use shared::{DemoReport, Narrator, Span};

/// A demo's results: the report (`--json` prints it) and one list of spans per measurement.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The measurements, named as in the issue.
    pub report: DemoReport,
    /// (measurement name, its spans), in the order they were measured.
    pub spans: Vec<(String, Vec<Span>)>,
}

impl Outcome {
    /// An outcome with no measurements yet.
    pub fn new(demo: &str, section: &str) -> Self {
        Self {
            report: DemoReport::new(demo, section),
            spans: Vec::new(),
        }
    }

    /// The spans recorded for one measurement (empty when there were none).
    pub fn spans_of(&self, measurement: &str) -> &[Span] {
        self.spans
            .iter()
            .find(|(name, _)| name == measurement)
            .map(|(_, spans)| spans.as_slice())
            .unwrap_or(&[])
    }

    /// A field of a measurement, if both exist.
    pub fn field(&self, measurement: &str, field: &str) -> Option<f64> {
        self.report.get(measurement).and_then(|m| m.get(field))
    }

    /// Prints the table, then one timeline per measurement that recorded spans.
    pub fn print(&self, narrator: &Narrator, baseline: Option<&str>) {
        narrator.report(&self.report, baseline);
        for (name, spans) in &self.spans {
            narrator.timeline(name, spans);
        }
    }
}

/// How many distinct OS threads the spans ran on: the `threads_used` field.
pub fn threads_used(spans: &[Span]) -> u32 {
    let mut ids: Vec<(u32, u64)> = spans.iter().map(|s| (s.pid, s.thread_id)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len() as u32
}
