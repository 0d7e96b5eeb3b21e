//! Measured results: a small table for people, one JSON line per demo for programs.
//!
//! Every demo ends with a [`DemoReport`]. With `--json` it becomes exactly one line on standard
//! output:
//!
//! ```text
//! {"demo":"requests","section":"1.1","measurements":[{"name":"concurrent","wall_ms":512.3,"max_in_flight":10.0}]}
//! ```
//!
//! The demo and measurement names are a public interface: scripts read them.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::timing::Usage;

/// One named result: its wall time plus any number of extra numeric fields.
///
/// ```
/// use std::time::Duration;
/// use shared::legacy::report::Measurement;
/// let m = Measurement::new("concurrent", Duration::from_millis(512)).field("max_in_flight", 10);
/// assert_eq!(m.get("wall_ms"), Some(512.0));
/// assert_eq!(m.get("max_in_flight"), Some(10.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// The measurement's name, e.g. `sequential_blocking`.
    pub name: String,
    /// Wall-clock time in milliseconds.
    pub wall_ms: f64,
    /// Extra numeric fields in the order they were added (`cpu_ms`, `max_in_flight`, ...).
    pub fields: Vec<(String, f64)>,
    /// A remark for people, e.g. why a measurement was skipped on this platform.
    pub note: Option<String>,
}

impl Measurement {
    /// A measurement with its wall time.
    ///
    /// ```
    /// let m = shared::legacy::report::Measurement::new("x", std::time::Duration::from_secs(1));
    /// assert_eq!(m.wall_ms, 1000.0);
    /// ```
    pub fn new(name: impl Into<String>, wall: Duration) -> Self {
        Self {
            name: name.into(),
            wall_ms: wall.as_secs_f64() * 1e3,
            fields: Vec::new(),
            note: None,
        }
    }

    /// A measurement with wall time and `cpu_ms` from a [`Usage`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use shared::{legacy::report::Measurement, timing::Usage};
    /// let usage = Usage { wall: Duration::from_millis(100), cpu: Duration::from_millis(3) };
    /// assert_eq!(Measurement::from_usage("io_bound", usage).get("cpu_ms"), Some(3.0));
    /// ```
    pub fn from_usage(name: impl Into<String>, usage: Usage) -> Self {
        Self::new(name, usage.wall).cpu(usage.cpu)
    }

    /// Adds `cpu_ms`.
    ///
    /// ```
    /// let m = shared::legacy::report::Measurement::new("x", std::time::Duration::ZERO).cpu(std::time::Duration::from_millis(5));
    /// assert_eq!(m.get("cpu_ms"), Some(5.0));
    /// ```
    pub fn cpu(self, cpu: Duration) -> Self {
        self.field("cpu_ms", cpu.as_secs_f64() * 1e3)
    }

    /// Adds (or replaces) a numeric field.
    ///
    /// ```
    /// let m = shared::legacy::report::Measurement::new("x", std::time::Duration::ZERO).field("lost_updates", 0u32);
    /// assert_eq!(m.get("lost_updates"), Some(0.0));
    /// ```
    pub fn field(mut self, key: impl Into<String>, value: impl Into<f64>) -> Self {
        self.set(key, value);
        self
    }

    /// Sets a numeric field in place.
    ///
    /// ```
    /// let mut m = shared::legacy::report::Measurement::new("x", std::time::Duration::ZERO);
    /// m.set("speedup", 2.0);
    /// assert_eq!(m.get("speedup"), Some(2.0));
    /// ```
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<f64>) {
        let key = key.into();
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = value,
            None => self.fields.push((key, value)),
        }
    }

    /// Adds a remark for people (kept in the JSON as `note`).
    ///
    /// ```
    /// let m = shared::legacy::report::Measurement::new("x", std::time::Duration::ZERO).note("skipped: not Linux");
    /// assert_eq!(m.note.as_deref(), Some("skipped: not Linux"));
    /// ```
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Sets the remark in place (for a measurement already in a report).
    ///
    /// ```
    /// let mut m = shared::legacy::report::Measurement::new("x", std::time::Duration::ZERO);
    /// m.set_note("the server saw fewer requests at once than were sent");
    /// assert!(m.note.is_some());
    /// ```
    pub fn set_note(&mut self, note: impl Into<String>) {
        self.note = Some(note.into());
    }

    /// A field's value; `wall_ms` is a field like the others.
    ///
    /// ```
    /// let m = shared::legacy::report::Measurement::new("x", std::time::Duration::ZERO);
    /// assert_eq!(m.get("missing"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<f64> {
        if key == "wall_ms" {
            return Some(self.wall_ms);
        }
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The JSON object: `{"name": ..., "wall_ms": ..., <fields>..., "note": ...}`.
    ///
    /// ```
    /// let m = shared::legacy::report::Measurement::new("x", std::time::Duration::from_micros(2500))
    ///     .field("max_in_flight", 50);
    /// assert_eq!(m.to_json()["wall_ms"], 2.5);
    /// assert_eq!(m.to_json().to_string(), r#"{"name":"x","wall_ms":2.5,"max_in_flight":50}"#);
    /// ```
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("name".into(), json!(self.name));
        object.insert("wall_ms".into(), json_number(self.wall_ms));
        for (key, value) in &self.fields {
            object.insert(key.clone(), json_number(*value));
        }
        if let Some(note) = &self.note {
            object.insert("note".into(), json!(note));
        }
        Value::Object(object)
    }
}

/// All the measurements of one demo, with the section of the notes it demonstrates.
///
/// ```
/// use std::time::Duration;
/// use shared::legacy::report::{DemoReport, Measurement};
/// let mut report = DemoReport::new("requests", "1.1");
/// report.push(Measurement::new("sequential_blocking", Duration::from_millis(5000)));
/// report.push(Measurement::new("concurrent", Duration::from_millis(500)));
/// let line = report.to_json_line();
/// assert!(line.starts_with(r#"{"demo":"requests","section":"1.1""#));
/// let table = report.table(Some("sequential_blocking"));
/// assert!(table.contains("10.0x"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// The demo's name as `--help` lists it, e.g. `requests`.
    pub demo: String,
    /// The section of the notes, e.g. `1.1`.
    pub section: String,
    /// The results, in the order they were measured.
    pub measurements: Vec<Measurement>,
}

impl DemoReport {
    /// An empty report.
    ///
    /// ```
    /// assert!(shared::legacy::report::DemoReport::new("gil", "1.5").measurements.is_empty());
    /// ```
    pub fn new(demo: impl Into<String>, section: impl Into<String>) -> Self {
        Self {
            demo: demo.into(),
            section: section.into(),
            measurements: Vec::new(),
        }
    }

    /// Appends a measurement.
    ///
    /// ```
    /// let mut report = shared::legacy::report::DemoReport::new("gil", "1.5");
    /// report.push(shared::legacy::report::Measurement::new("sequential", std::time::Duration::ZERO));
    /// assert_eq!(report.measurements.len(), 1);
    /// ```
    pub fn push(&mut self, measurement: Measurement) {
        self.measurements.push(measurement);
    }

    /// The measurement with this name.
    ///
    /// ```
    /// let mut report = shared::legacy::report::DemoReport::new("gil", "1.5");
    /// report.push(shared::legacy::report::Measurement::new("sequential", std::time::Duration::ZERO));
    /// assert!(report.get("sequential").is_some());
    /// ```
    pub fn get(&self, name: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.name == name)
    }

    /// The measurement with this name, to add fields after the fact.
    ///
    /// ```
    /// let mut report = shared::legacy::report::DemoReport::new("gil", "1.5");
    /// report.push(shared::legacy::report::Measurement::new("sequential", std::time::Duration::ZERO));
    /// report.get_mut("sequential").unwrap().set("ratio", 1.0);
    /// assert_eq!(report.get("sequential").unwrap().get("ratio"), Some(1.0));
    /// ```
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Measurement> {
        self.measurements.iter_mut().find(|m| m.name == name)
    }

    /// The report as one line of JSON (no trailing newline).
    ///
    /// ```
    /// let report = shared::legacy::report::DemoReport::new("gil", "1.5");
    /// let value: serde_json::Value = serde_json::from_str(&report.to_json_line()).unwrap();
    /// assert_eq!(value["demo"], "gil");
    /// ```
    pub fn to_json_line(&self) -> String {
        let value = json!({
            "demo": self.demo,
            "section": self.section,
            "measurements": self.measurements.iter().map(Measurement::to_json).collect::<Vec<_>>(),
        });
        value.to_string()
    }

    /// A table for people: name, wall time, CPU time and CPU/wall where measured, the speedup
    /// against `baseline` (its wall time divided by each row's), then every extra field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shared::legacy::report::{DemoReport, Measurement};
    /// let mut report = DemoReport::new("io-vs-cpu", "1.2");
    /// report.push(Measurement::new("io_bound", Duration::from_millis(500)).cpu(Duration::from_millis(5)));
    /// let table = report.table(None);
    /// assert!(table.contains("io_bound"));
    /// assert!(table.contains("0.01"));
    /// ```
    pub fn table(&self, baseline: Option<&str>) -> String {
        let baseline_wall = baseline.and_then(|name| self.get(name)).map(|m| m.wall_ms);
        let any_cpu = self.measurements.iter().any(|m| m.get("cpu_ms").is_some());
        let mut extra_keys: Vec<&str> = Vec::new();
        for m in &self.measurements {
            for (key, _) in &m.fields {
                if key != "cpu_ms" && !extra_keys.contains(&key.as_str()) {
                    extra_keys.push(key);
                }
            }
        }

        let mut header = vec!["measurement".to_string(), "wall".to_string()];
        if any_cpu {
            header.push("cpu".into());
            header.push("cpu/wall".into());
        }
        if baseline_wall.is_some() {
            header.push("speedup".into());
        }
        header.extend(extra_keys.iter().map(|k| k.to_string()));

        let mut rows = vec![header];
        for m in &self.measurements {
            let mut row = vec![m.name.clone(), format_ms(m.wall_ms)];
            if any_cpu {
                match m.get("cpu_ms") {
                    Some(cpu) => {
                        row.push(format_ms(cpu));
                        let ratio = if m.wall_ms > 0.0 {
                            cpu / m.wall_ms
                        } else {
                            0.0
                        };
                        row.push(format!("{ratio:.2}"));
                    }
                    None => row.extend(["-".to_string(), "-".to_string()]),
                }
            }
            if let Some(base) = baseline_wall {
                row.push(if m.wall_ms > 0.0 {
                    format!("{:.1}x", base / m.wall_ms)
                } else {
                    "-".into()
                });
            }
            for key in &extra_keys {
                row.push(m.get(key).map(format_number).unwrap_or_else(|| "-".into()));
            }
            rows.push(row);
        }

        let columns = rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for (i, row) in rows.iter().enumerate() {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let w = widths[c];
                if c == 0 {
                    let _ = write!(line, "{cell:<w$}");
                } else {
                    let _ = write!(line, "  {cell:>w$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
            if i == 0 {
                let total: usize = widths.iter().sum::<usize>() + 2 * (columns - 1);
                out.push_str(&"-".repeat(total));
                out.push('\n');
            }
        }
        if let Some(name) = baseline.filter(|_| baseline_wall.is_some()) {
            let _ = writeln!(out, "speedup = wall time of {name} / wall time of the row");
        }
        for m in &self.measurements {
            if let Some(note) = &m.note {
                let _ = writeln!(out, "note on {}: {note}", m.name);
            }
        }
        out
    }
}

/// Milliseconds for people: `850.0 ms`, `14.21 s`, `0.042 ms`.
///
/// ```
/// assert_eq!(shared::legacy::report::format_ms(14210.0), "14.21 s");
/// assert_eq!(shared::legacy::report::format_ms(850.0), "850.0 ms");
/// ```
pub fn format_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// Whole numbers without decimals, others with up to two: `50`, `0.25`, `12.5`.
///
/// ```
/// assert_eq!(shared::legacy::report::format_number(50.0), "50");
/// assert_eq!(shared::legacy::report::format_number(0.256), "0.26");
/// ```
pub fn format_number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Counts print as integers (`"max_in_flight":50`), other values with at most three decimals,
/// which is more than any of these measurements can resolve.
fn json_number(value: f64) -> Value {
    const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.is_finite() && value.fract() == 0.0 && value.abs() < EXACT_INTEGERS {
        json!(value as i64)
    } else {
        json!((value * 1000.0).round() / 1000.0)
    }
}
