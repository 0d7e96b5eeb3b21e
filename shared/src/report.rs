//! Typed results (every section): a demo's own `Serialize` measurement struct, as one JSON line
//! with `--json` or a table, both through serde so they never disagree. The demo, measurement
//! and field names are a public interface: scripts read them.
//!
//! ```
//! #[derive(serde::Serialize)]
//! struct Leg { name: &'static str, wall_ms: f64, max_in_flight: u64 }
//! let report = shared::report::Report::new("requests", "1.1", vec![
//!     Leg { name: "concurrent", wall_ms: 512.34567, max_in_flight: 10 },
//! ]);
//! assert_eq!(
//!     report.to_json_line(),
//!     r#"{"demo":"requests","section":"1.1","measurements":[{"name":"concurrent","wall_ms":512.346,"max_in_flight":10}]}"#
//! );
//! assert!(report.table(80, false).contains("512.3 ms"));
//!
//! #[derive(serde::Serialize)]
//! struct Row { #[serde(serialize_with = "shared::report::as_ms")] wall_ms: std::time::Duration }
//! let row = Row { wall_ms: std::time::Duration::from_micros(1500) };
//! assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"wall_ms":1.5}"#);
//! // Rows of different kinds (Rust rows and CPython rows, say) in one report:
//! let python = serde_json::json!({ "name": "asyncio_gather", "version": "3.11" });
//! let mixed = shared::Report::mixed("requests", "1.1").with(row).with(python);
//! assert!(mixed.to_json_line().contains(r#""version":"3.11""#));
//! ```

use comfy_table::{
    CellAlignment, ColumnConstraint, ContentArrangement, Table, TableComponent, Width, presets,
};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::timing::human_ms;

/// All the measurements of one demo, with the section of the notes it demonstrates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report<M> {
    /// The demo's name as `--help` lists it, e.g. `requests`.
    pub demo: &'static str,
    /// The section of the notes, e.g. `1.1`.
    pub section: &'static str,
    /// The results in order, each an object led by `name`, with an optional `note` (shown below).
    pub measurements: Vec<M>,
}

impl<M: Serialize> Report<M> {
    /// A report of these measurements.
    pub fn new(demo: &'static str, section: &'static str, measurements: Vec<M>) -> Self {
        Self {
            demo,
            section,
            measurements,
        }
    }

    /// The report as one line of JSON, fractions to three decimals (more than any measurement has).
    pub fn to_json_line(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        round_floats(&mut value);
        value.to_string()
    }

    /// A table at most `width` wide: a row per measurement, a column per field (`*_ms` readable).
    pub fn table(&self, width: usize, fancy: bool) -> String {
        let as_object = |m| serde_json::to_value(m).ok()?.as_object().cloned();
        let rows: Vec<_> = self.measurements.iter().filter_map(as_object).collect();
        let mut keys: Vec<&str> = Vec::new();
        for key in rows.iter().flat_map(|row| row.keys()) {
            if key != "note" && !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
        let header = |key: &&str| match *key {
            "name" => "measurement".to_string(),
            key => key.strip_suffix("_ms").unwrap_or(key).replace('_', " "),
        };
        let headers: Vec<String> = keys.iter().map(header).collect();
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|row| keys.iter().map(|key| cell(key, row.get(*key))).collect())
            .collect();
        // A column needs its widest value and its longest header word, plus a space each side.
        let needs: Vec<usize> = (0..keys.len())
            .map(|c| {
                let values = cells.iter().map(|row| row[c].chars().count());
                let words = headers[c].split(' ').map(str::len);
                values.chain(words).max().unwrap_or(1) + 2
            })
            .collect();
        // Too wide: split into as few parts as fit, each led by the names, columns shared evenly.
        let split = |per_part: usize| {
            let mut parts: Vec<Vec<usize>> = vec![vec![0]];
            for c in 1..keys.len() {
                let part = parts.last_mut().expect("never empty");
                let used: usize = part.iter().map(|&i| needs[i]).sum();
                if part.len() > 1 && (used + needs[c] > width || part.len() > per_part) {
                    parts.push(vec![0, c]);
                } else {
                    part.push(c);
                }
            }
            parts
        };
        let few = split(usize::MAX);
        let even = split((keys.len() - 1).div_ceil(few.len()));
        // The even split unless it needs more parts than the fewest.
        let parts = if even.len() > few.len() { few } else { even };
        let mut tables = Vec::new();
        for part in parts {
            let mut table = Table::new();
            table
                .load_preset(presets::NOTHING)
                .set_style(TableComponent::HeaderLines, if fancy { '─' } else { '-' })
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(width as u16)
                .set_header(part.iter().map(|&c| &headers[c]))
                .add_rows(cells.iter().map(|row| part.iter().map(|&c| &row[c])));
            for (i, column) in table.column_iter_mut().enumerate() {
                let least = Width::Fixed(needs[part[i]] as u16);
                column.set_constraint(ColumnConstraint::LowerBoundary(least));
                if i > 0 {
                    column.set_cell_alignment(CellAlignment::Right);
                }
            }
            tables.push(table.trim_fmt() + "\n");
        }
        let mut out = tables.join("\n");
        for row in &rows {
            if let (Some(Value::String(name)), Some(Value::String(note))) =
                (row.get("name"), row.get("note"))
            {
                out += &(textwrap::fill(&format!("note on {name}: {note}"), width) + "\n");
            }
        }
        out
    }
}

impl Report<Value> {
    /// A report of rows of different kinds (Rust and CPython rows), each added [`with`](Self::with).
    pub fn mixed(demo: &'static str, section: &'static str) -> Self {
        Self::new(demo, section, Vec::new())
    }

    /// The report with one more row.
    pub fn with(mut self, row: impl Serialize) -> Self {
        self.measurements
            .push(serde_json::to_value(row).unwrap_or(Value::Null));
        self
    }
}

/// A `Duration` as milliseconds: `#[serde(serialize_with = "shared::report::as_ms")]`.
pub fn as_ms<S: Serializer>(duration: &std::time::Duration, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_f64(crate::timing::ms(*duration))
}

fn cell(key: &str, value: Option<&Value>) -> String {
    let x = value.and_then(Value::as_f64).unwrap_or(0.0);
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Bool(yes)) => if *yes { "yes" } else { "no" }.into(),
        Some(Value::Number(_)) if key.ends_with("_ms") => human_ms(x),
        Some(Value::Number(n)) if n.is_f64() && x.abs() >= 100.0 => format!("{x:.0}"),
        Some(Value::Number(n)) if n.is_f64() => format!("{x:.2}"),
        Some(Value::Number(n)) => n.to_string(),
        _ => "-".into(),
    }
}

fn round_floats(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            *value = json!((x * 1000.0).round() / 1000.0);
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(fields) => fields.values_mut().for_each(round_floats),
        _ => {}
    }
}
