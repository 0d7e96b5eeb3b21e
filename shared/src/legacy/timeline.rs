//! Draws recorded [`Span`]s as a timeline in the terminal: one row per task, time running left to
//! right, one glyph per kind of activity (sections 1.1 to 1.7).
//!
//! Reading a timeline is the fastest way to *see* the chapter: sequential requests form a
//! staircase, concurrent ones stack up in one column, a thread waiting for the GIL shows `!` while
//! the other shows `#`.
//!
//! ```text
//! task         thread   |#####.....                    |
//! ```
//!
//! The layout depends only on the spans and the [`TimelineStyle`], never on the clock, so it is
//! tested against exact text.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use crate::legacy::spans::{Span, SpanKind};

/// How to draw: the total width and whether to use Unicode blocks and colour.
///
/// ```
/// let style = shared::legacy::timeline::TimelineStyle::plain(80);
/// assert_eq!(style.width, 80);
/// assert!(!style.fancy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineStyle {
    /// Total width in columns, label and axis included.
    pub width: usize,
    /// Unicode blocks and ANSI colours when true; plain ASCII when false.
    pub fancy: bool,
    /// At most this many task rows; the rest are summarised in one line.
    pub max_rows: usize,
}

impl TimelineStyle {
    /// Plain ASCII at a fixed width: what tests, pipes and `NO_COLOR` get.
    ///
    /// ```
    /// assert_eq!(shared::legacy::timeline::TimelineStyle::plain(60).max_rows, 20);
    /// ```
    pub fn plain(width: usize) -> Self {
        Self {
            width,
            fancy: false,
            max_rows: 20,
        }
    }

    /// The style for standard output as it is now: the terminal's width (80 when it is not a
    /// terminal), fancy only on a terminal without `NO_COLOR`.
    ///
    /// ```
    /// let style = shared::legacy::timeline::TimelineStyle::detect();
    /// assert!(style.width >= 40);
    /// ```
    pub fn detect() -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let width = terminal_size::terminal_size()
            .filter(|_| terminal)
            .map(|(terminal_size::Width(w), _)| usize::from(w))
            .unwrap_or(80)
            .clamp(40, 160);
        Self {
            width,
            fancy: terminal && !no_color,
            max_rows: 20,
        }
    }
}

/// The character drawn for a kind of span in plain ASCII.
///
/// ```
/// use shared::legacy::spans::SpanKind;
/// assert_eq!(shared::legacy::timeline::ascii_glyph(SpanKind::Cpu), '#');
/// ```
pub fn ascii_glyph(kind: SpanKind) -> char {
    match kind {
        SpanKind::Cpu => '#',
        SpanKind::WaitIo => '~',
        SpanKind::WaitLock => '!',
        SpanKind::Idle => '.',
    }
}

fn fancy_glyph(kind: SpanKind) -> (&'static str, &'static str) {
    // (glyph, ANSI colour)
    match kind {
        SpanKind::Cpu => ("█", "\x1b[32m"),
        SpanKind::WaitIo => ("░", "\x1b[36m"),
        SpanKind::WaitLock => ("▒", "\x1b[31m"),
        SpanKind::Idle => ("·", "\x1b[2m"),
    }
}

/// When two spans of one row fall into the same column, the busier kind wins.
fn priority(kind: SpanKind) -> u8 {
    match kind {
        SpanKind::Cpu => 3,
        SpanKind::WaitLock => 2,
        SpanKind::WaitIo => 1,
        SpanKind::Idle => 0,
    }
}

const GAP: &str = "  ";
const MAX_LABEL: usize = 18;
const MIN_BAR: usize = 10;

/// Renders spans as a timeline: rows in order of each task's first span, an axis with units, the
/// scale of one column and a legend. Returns an empty string when there are no spans.
///
/// ```
/// use std::time::Duration;
/// use shared::legacy::spans::{Span, SpanKind};
/// use shared::legacy::timeline::{render, TimelineStyle};
/// let ms = Duration::from_millis;
/// let spans = vec![
///     Span::at("first", SpanKind::Cpu, ms(0), ms(50)).on_thread("main", 1, 10),
///     Span::at("second", SpanKind::WaitIo, ms(50), ms(100)).on_thread("main", 1, 10),
/// ];
/// let text = render(&spans, &TimelineStyle::plain(60));
/// assert!(text.contains("first"));
/// assert!(text.contains("#"));
/// assert!(text.contains("~"));
/// ```
pub fn render(spans: &[Span], style: &TimelineStyle) -> String {
    if spans.is_empty() {
        return String::new();
    }
    let t0 = spans.iter().map(|s| s.start).min().unwrap_or_default();
    let t1 = spans.iter().map(|s| s.end).max().unwrap_or_default();
    let total_ns = (t1 - t0).as_nanos().max(1);

    let rows = group_rows(spans);
    let many_processes = {
        let mut pids: Vec<u32> = spans.iter().map(|s| s.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        pids.len() > 1
    };
    let shown = if rows.len() > style.max_rows {
        style.max_rows.saturating_sub(1).max(1)
    } else {
        rows.len()
    };
    let whos: Vec<String> = rows[..shown]
        .iter()
        .map(|row| who(&row.spans, many_processes))
        .collect();
    let who_w = whos.iter().map(|w| w.chars().count()).max().unwrap_or(0);
    // Labels get what is left once the thread column and a minimal bar are placed.
    let label_budget = style
        .width
        .saturating_sub(who_w + 2 * GAP.len() + 2 + MIN_BAR)
        .clamp(4, MAX_LABEL);
    let labels: Vec<String> = rows[..shown]
        .iter()
        .map(|row| truncate(row.task, label_budget, style.fancy))
        .collect();
    let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let prefix_w = label_w + GAP.len() + who_w + GAP.len();
    // Two columns for the `|` borders.
    let bar_w = style.width.saturating_sub(prefix_w + 2).max(MIN_BAR);

    let mut out = String::new();
    for ((row, label), who) in rows[..shown].iter().zip(&labels).zip(&whos) {
        let cells = paint(&row.spans, t0, total_ns, bar_w);
        let _ = write!(out, "{label:<label_w$}{GAP}{who:<who_w$}{GAP}|");
        out.push_str(&draw_cells(&cells, style.fancy));
        out.push_str("|\n");
    }
    let _ = writeln!(
        out,
        "{:prefix_w$}{}",
        "",
        axis(t1 - t0, bar_w + 2, style.fancy).trim_end()
    );

    let mut notes = Vec::new();
    if shown < rows.len() {
        notes.push(format!("({} more rows not shown)", rows.len() - shown));
    }
    let per_column = Duration::from_nanos((total_ns / bar_w as u128) as u64);
    notes.push(format!(
        "1 column = {}",
        format_duration(per_column, style.fancy)
    ));
    for kind in SpanKind::ALL {
        if spans.iter().any(|s| s.kind == kind) {
            let glyph = draw_cells(&[Some(kind)], style.fancy);
            notes.push(format!("{glyph} {}", kind.describe()));
        }
    }
    out.push_str(&wrap(&notes, prefix_w, style.width));
    out
}

/// The spans cut to the first `length` after the earliest start: a zoom for runs whose
/// interesting detail (5 ms lock slices, say) is too fine to see at full scale.
///
/// ```
/// use std::time::Duration;
/// use shared::legacy::spans::{Span, SpanKind};
/// let ms = Duration::from_millis;
/// let spans = [
///     Span::at("a", SpanKind::Cpu, ms(0), ms(100)),
///     Span::at("b", SpanKind::Cpu, ms(50), ms(60)),
/// ];
/// let zoomed = shared::legacy::timeline::first(&spans, ms(10));
/// assert_eq!(zoomed.len(), 1);
/// assert_eq!(zoomed[0].end, ms(10));
/// ```
pub fn first(spans: &[Span], length: Duration) -> Vec<Span> {
    let Some(from) = spans.iter().map(|span| span.start).min() else {
        return Vec::new();
    };
    let to = from + length;
    spans
        .iter()
        .filter(|span| span.start < to)
        .map(|span| Span {
            end: span.end.min(to),
            ..span.clone()
        })
        .collect()
}

struct Row<'a> {
    task: &'a str,
    spans: Vec<&'a Span>,
}

fn group_rows(spans: &[Span]) -> Vec<Row<'_>> {
    let mut order: Vec<Row<'_>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut sorted: Vec<&Span> = spans.iter().collect();
    // Stable sort: rows appear in order of their first span, ties in recording order.
    sorted.sort_by_key(|s| s.start);
    for span in sorted {
        let at = *index.entry(span.task.as_str()).or_insert_with(|| {
            order.push(Row {
                task: span.task.as_str(),
                spans: Vec::new(),
            });
            order.len() - 1
        });
        order[at].spans.push(span);
    }
    order
}

/// `t<tid>` for one thread, `t<tid>+2` when the row's spans ran on three threads, prefixed with
/// `p<pid>` when the spans come from several processes.
fn who(spans: &[&Span], many_processes: bool) -> String {
    let first = spans[0];
    let mut threads: Vec<(u32, u64)> = spans.iter().map(|s| (s.pid, s.thread_id)).collect();
    threads.sort_unstable();
    threads.dedup();
    let mut text = String::new();
    if many_processes {
        let _ = write!(text, "p{} ", first.pid);
    }
    let _ = write!(text, "t{}", first.thread_id);
    if threads.len() > 1 {
        let _ = write!(text, "+{}", threads.len() - 1);
    }
    text
}

fn paint(spans: &[&Span], t0: Duration, total_ns: u128, bar_w: usize) -> Vec<Option<SpanKind>> {
    let mut cells: Vec<Option<SpanKind>> = vec![None; bar_w];
    let w = bar_w as u128;
    for span in spans {
        let start = (span.start - t0).as_nanos();
        let end = (span.end - t0).as_nanos();
        // Round both ends to the nearest column: spans that touch in time touch on screen,
        // without sharing a column. A span too short for a column still gets one.
        let first = ((start * w + total_ns / 2) / total_ns).min(w - 1) as usize;
        let last = ((end * w + total_ns / 2) / total_ns).min(w) as usize;
        let last = last.max(first + 1);
        for cell in &mut cells[first..last] {
            if cell.is_none_or(|old| priority(span.kind) > priority(old)) {
                *cell = Some(span.kind);
            }
        }
    }
    cells
}

fn draw_cells(cells: &[Option<SpanKind>], fancy: bool) -> String {
    let mut out = String::new();
    let mut colour_on = false;
    for cell in cells {
        match (cell, fancy) {
            (None, _) => {
                if colour_on {
                    out.push_str("\x1b[0m");
                    colour_on = false;
                }
                out.push(' ');
            }
            (Some(kind), false) => out.push(ascii_glyph(*kind)),
            (Some(kind), true) => {
                let (glyph, colour) = fancy_glyph(*kind);
                out.push_str(colour);
                out.push_str(glyph);
                colour_on = true;
            }
        }
    }
    if colour_on {
        out.push_str("\x1b[0m");
    }
    out
}

/// The axis under the bars: tick labels at 0, 1/4, 1/2, 3/4 and the end, where they fit.
fn axis(total: Duration, width: usize, fancy: bool) -> String {
    let unit = Unit::for_total(total);
    let mut line: Vec<char> = vec![' '; width + 12];
    let mut free_from = 0usize;
    for quarter in 0..=4u32 {
        let at_ns = total.as_nanos() * u128::from(quarter) / 4;
        let text = unit.format(Duration::from_nanos(at_ns as u64), fancy);
        // Column 0 is the left border `|`; the bar starts at column 1.
        let column = 1 + (width - 2) * quarter as usize / 4;
        let start = match quarter {
            0 => 0,
            // The last label ends at the right border.
            4 => (width).saturating_sub(text.chars().count()),
            _ => column.saturating_sub(text.chars().count() / 2),
        };
        if start < free_from {
            continue;
        }
        for (offset, ch) in text.chars().enumerate() {
            if let Some(slot) = line.get_mut(start + offset) {
                *slot = ch;
            }
        }
        free_from = start + text.chars().count() + 1;
    }
    line.into_iter().collect()
}

#[derive(Clone, Copy)]
enum Unit {
    Micros,
    Millis,
    Seconds,
}

impl Unit {
    fn for_total(total: Duration) -> Self {
        if total < Duration::from_millis(2) {
            Unit::Micros
        } else if total < Duration::from_secs(2) {
            Unit::Millis
        } else {
            Unit::Seconds
        }
    }

    fn format(self, at: Duration, fancy: bool) -> String {
        match self {
            Unit::Micros => format!("{} {}", at.as_micros(), micros(fancy)),
            Unit::Millis => format!("{} ms", at.as_millis()),
            Unit::Seconds => {
                let secs = at.as_secs_f64();
                if secs.fract().abs() < 1e-9 {
                    format!("{secs:.0} s")
                } else {
                    format!("{secs:.1} s")
                }
            }
        }
    }
}

/// The micro sign is not ASCII; plain output spells it `us`.
fn micros(fancy: bool) -> &'static str {
    if fancy { "µs" } else { "us" }
}

fn format_duration(d: Duration, fancy: bool) -> String {
    let ns = d.as_nanos();
    if ns >= 1_000_000_000 {
        format!("{:.2} s", d.as_secs_f64())
    } else if ns >= 1_000_000 {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else if ns >= 1_000 {
        format!("{:.1} {}", d.as_secs_f64() * 1e6, micros(fancy))
    } else {
        format!("{ns} ns")
    }
}

/// Joins the notes with ", " into lines that fit `width`, indented under the bars when that fits.
fn wrap(notes: &[String], indent: usize, width: usize) -> String {
    let visible = |text: &str| {
        // ANSI colour codes take no columns.
        let mut count = 0;
        let mut in_escape = false;
        for ch in text.chars() {
            match (in_escape, ch) {
                (false, '\x1b') => in_escape = true,
                (true, 'm') => in_escape = false,
                (false, _) => count += 1,
                _ => {}
            }
        }
        count
    };
    let longest = notes.iter().map(|n| visible(n)).max().unwrap_or(0);
    let indent = if indent + longest <= width { indent } else { 0 };
    let mut out = String::new();
    let mut line = String::new();
    let mut line_w = 0;
    for note in notes {
        let w = visible(note);
        if line_w > 0 && indent + line_w + 2 + w > width {
            out.push_str(&format!("{:indent$}{line}\n", ""));
            line.clear();
            line_w = 0;
        }
        if line_w > 0 {
            line.push_str(", ");
            line_w += 2;
        }
        line.push_str(note);
        line_w += w;
    }
    if line_w > 0 {
        out.push_str(&format!("{:indent$}{line}\n", ""));
    }
    out
}

fn truncate(text: &str, max: usize, fancy: bool) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push(if fancy { '…' } else { '~' });
    cut
}
