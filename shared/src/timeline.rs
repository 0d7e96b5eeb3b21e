//! Draws recorded [`Span`]s as a timeline in the terminal: one row per span label, time running
//! left to right (sections 1.1 to 1.7). A column is *running* (`#`) when the threads inside the
//! row's spans spent at least half of it on a CPU, as the [span layer](crate::trace) measured,
//! and *waiting* (`~`) when a span was open but its thread was not computing: blocked in a read,
//! sleeping, or an async task not being polled. `!` is a wait declared as one for a lock. `.`
//! marks a span open for less than the two clocks tell apart (a few microseconds): whether it ran
//! or waited cannot be measured, so it is drawn as neither.
//! ```text
//! request 0   t1037  |~~~~~~~~~~~                    |
//! request 1   t1037  |           ~~~~~~~~~~~         |
//! ```
//! The layout depends only on the spans and the [`Style`], so it is tested against exact text.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use owo_colors::{AnsiColors, OwoColorize as _};

use crate::timing::human;
use crate::trace::Span;

/// How to draw: the total width, and Unicode with colour or plain ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Total width in columns, label and axis included.
    pub width: usize,
    /// Unicode blocks and colour when true; plain ASCII when false.
    pub fancy: bool,
}

/// At most this many rows; the rest are counted in one line.
pub const MAX_ROWS: usize = 20;

impl Style {
    /// Plain ASCII at a fixed width: what tests, pipes and `NO_COLOR` get.
    pub fn plain(width: usize) -> Self {
        Self {
            width,
            fancy: false,
        }
    }

    /// For stdout now: the terminal's width (else 80), Unicode and colour on one without `NO_COLOR`.
    pub fn detect() -> Self {
        let terminal = std::io::stdout().is_terminal();
        let width = terminal_size::terminal_size()
            .filter(|_| terminal)
            .map_or(80, |(terminal_size::Width(w), _)| usize::from(w))
            .clamp(40, 160);
        let fancy = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self { width, fancy }
    }
}

/// What one column of a row shows, in the legend's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    Running,
    Waiting,
    WaitingForLock,
    TooShortToTime,
    Empty,
}

impl Cell {
    /// The words in the legend.
    fn meaning(self) -> &'static str {
        match self {
            Cell::Empty => "",
            Cell::Waiting => "waiting (on I/O, a timer or its turn)",
            Cell::WaitingForLock => "waiting for a lock",
            Cell::TooShortToTime => "open too briefly to time (under 50 µs)",
            Cell::Running => "running on a CPU",
        }
    }

    /// The glyph in ASCII, or in Unicode and colour on a terminal.
    fn draw(self, fancy: bool) -> String {
        let (ascii, block, colour) = match self {
            Cell::Empty => return " ".into(),
            Cell::Waiting => ("~", "░", AnsiColors::Cyan),
            Cell::WaitingForLock => ("!", "▒", AnsiColors::Red),
            Cell::TooShortToTime => (".", "·", AnsiColors::Yellow),
            Cell::Running => ("#", "█", AnsiColors::Green),
        };
        if fancy {
            return block.color(colour).to_string();
        }
        ascii.into()
    }
}

const GAP: &str = "  ";
const MAX_LABEL: usize = 24;
const MIN_BAR: usize = 10;

/// Rows in order of each label's first span, an axis, the column's scale, a legend; or nothing.
pub fn render(spans: &[Span], style: &Style) -> String {
    let opened = spans.iter().map(|s| s.opened).min();
    let (Some(t0), Some(t1)) = (opened, spans.iter().map(|s| s.closed).max()) else {
        return String::new();
    };
    let total = (t1 - t0).max(Duration::from_nanos(1));
    let rows = group_rows(spans);
    // All rows fit, or all but one and a line that counts the rest.
    let shown = rows.len().min(MAX_ROWS - (rows.len() > MAX_ROWS) as usize);
    let (rows, hidden) = (&rows[..shown], rows.len() - shown);
    let many_processes = spans.iter().any(|s| s.pid != spans[0].pid);
    let whos: Vec<String> = rows.iter().map(|(_, r)| who(r, many_processes)).collect();
    let who_w = whos.iter().map(|w| w.len()).max().unwrap_or(0);
    let taken = who_w + 2 * GAP.len() + 2 + MIN_BAR;
    let room = style.width.saturating_sub(taken).clamp(4, MAX_LABEL);
    let labels: Vec<String> = rows.iter().map(|(l, _)| truncate(l, room)).collect();
    let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let prefix_w = label_w + GAP.len() + who_w + GAP.len();
    let bar_w = style.width.saturating_sub(prefix_w + 2).max(MIN_BAR);
    let mut out = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for (((_, row), label), who) in rows.iter().zip(&labels).zip(&whos) {
        let cells = paint(row, t0, total, bar_w);
        seen.extend(cells.iter().copied());
        let bar: String = cells.iter().map(|cell| cell.draw(style.fancy)).collect();
        let _ = writeln!(out, "{label:<label_w$}{GAP}{who:<who_w$}{GAP}|{bar}|");
    }
    let axis = axis(t1 - t0, bar_w + 2);
    let _ = writeln!(out, "{:prefix_w$}{}", "", axis.trim_end());
    let hidden = (hidden > 0).then(|| format!("({hidden} more rows not shown)"));
    let mut notes: Vec<String> = hidden.into_iter().collect();
    notes.push(format!("1 column = {}", human(total / bar_w as u32)));
    for cell in seen.into_iter().filter(|&cell| cell != Cell::Empty) {
        notes.push(format!("{} {}", cell.draw(style.fancy), cell.meaning()));
    }
    let legend_w = style.width.saturating_sub(prefix_w).max(30);
    let fits = prefix_w + 30 <= style.width;
    let indent = if fits { prefix_w } else { 0 };
    for line in textwrap::fill(&notes.join(", "), legend_w).lines() {
        let _ = writeln!(out, "{:indent$}{line}", "");
    }
    if !style.fancy {
        out = out.replace('µ', "u");
    }
    out
}

/// Spans grouped by label, in order of each label's first opening.
fn group_rows(spans: &[Span]) -> Vec<(&str, Vec<&Span>)> {
    let mut sorted: Vec<&Span> = spans.iter().collect();
    sorted.sort_by_key(|s| s.opened);
    let mut rows: Vec<(&str, Vec<&Span>)> = Vec::new();
    for span in sorted {
        match rows.iter_mut().find(|(label, _)| *label == span.label) {
            Some((_, row)) => row.push(span),
            None => rows.push((&span.label, vec![span])),
        }
    }
    rows
}

/// `t<tid>`, `t<tid>+2` for a row run on three threads, `p<pid> ` in front if several processes.
fn who(row: &[&Span], many_processes: bool) -> String {
    let runs = row.iter().flat_map(|s| &s.runs);
    let mut threads: Vec<u64> = runs.map(|r| r.thread_id).collect();
    let first = threads.first().map_or(row[0].thread_id, |&t| t);
    threads.sort_unstable();
    threads.dedup();
    let process = many_processes.then(|| format!("p{} ", row[0].pid));
    let more = (threads.len() > 1).then(|| format!("+{}", threads.len() - 1));
    let (process, more) = (process.unwrap_or_default(), more.unwrap_or_default());
    format!("{process}t{first}{more}")
}

/// Below this, a span's or a run's CPU share is lost in the cost of reading the clocks (seconds).
const TOO_SHORT_TO_TIME: f64 = 50e-6;

/// Each column: how long the row's spans were open in it, and how much of that on a CPU.
fn paint(row: &[&Span], t0: Duration, total: Duration, bar_w: usize) -> Vec<Cell> {
    let column = |at: Duration| -> usize {
        let x = (at - t0).as_secs_f64() / total.as_secs_f64() * bar_w as f64;
        (x.round() as usize).min(bar_w)
    };
    let mut open = vec![0.0f64; bar_w];
    let mut cpu = vec![0.0f64; bar_w];
    // Columns where a span longer than one column starts, ends or passes.
    let mut long = vec![false; bar_w];
    let mut lock = vec![false; bar_w];
    // Columns where a span too short to time falls.
    let mut brief = vec![false; bar_w];
    // Spread `seconds` evenly over `columns`, at least a trace in each: a span touches them all.
    let spread = |into: &mut Vec<f64>, columns: std::ops::Range<usize>, seconds: f64| {
        let n = columns.len() as f64;
        for c in columns {
            into[c] += seconds.max(1e-9) / n;
        }
    };
    for span in row {
        // Ends round to the nearest column (touching spans touch on screen), at least one column.
        let first = column(span.opened).min(bar_w - 1);
        let columns = first..column(span.closed).max(first + 1);
        let wall = span.wall().as_secs_f64();
        spread(&mut open, columns.clone(), wall);
        for c in columns.clone() {
            long[c] |= columns.len() > 1;
            lock[c] |= span.waiting_for.as_deref() == Some("lock");
            brief[c] |= wall < TOO_SHORT_TO_TIME;
        }
        // A span of a few microseconds is below what the two clocks resolve once their own
        // reading costs are counted: its CPU share is noise, so it is marked, not called running.
        if wall < TOO_SHORT_TO_TIME {
            continue;
        }
        for run in &span.runs {
            let wall = (run.end - run.start).as_secs_f64();
            let share = if wall < TOO_SHORT_TO_TIME {
                1.0
            } else {
                (run.cpu().as_secs_f64() / wall).min(1.0)
            };
            // Never outside the span's own columns, whatever the rounding.
            let from = column(run.start).clamp(columns.start, columns.end - 1);
            let to = column(run.end).clamp(from + 1, columns.end);
            spread(&mut cpu, from..to, wall * share);
        }
    }
    let width = total.as_secs_f64() / bar_w as f64;
    // A column is running when the CPU was busy for half of it. Where only spans shorter than a
    // column fall, half of the time they were open is enough: a short burst of work still shows.
    // The edge of a long wait does not: its last CPU-heavy millisecond is not half a column.
    (0..bar_w)
        .map(|c| match () {
            _ if open[c] == 0.0 => Cell::Empty,
            _ if cpu[c] * 2.0 >= if long[c] { width } else { open[c].min(width) } => Cell::Running,
            _ if lock[c] => Cell::WaitingForLock,
            // A wait that passes through the column says more than a blip inside it.
            _ if brief[c] && !long[c] => Cell::TooShortToTime,
            _ => Cell::Waiting,
        })
        .collect()
}

/// The axis under the bars: labels at 0, 1/4, 1/2, 3/4 and the end, where they fit.
fn axis(total: Duration, width: usize) -> String {
    let mut line: Vec<char> = vec![' '; width + 12];
    let mut free_from = 0;
    for quarter in 0..=4u32 {
        let text = tick(total * quarter / 4, total);
        let len = text.chars().count();
        let start = match quarter {
            0 => 0,
            4 => width.saturating_sub(len),
            _ => (1 + (width - 2) * quarter as usize / 4).saturating_sub(len / 2),
        };
        if start >= free_from {
            line.splice(start..start + len, text.chars());
            free_from = start + len + 1;
        }
    }
    line.into_iter().collect()
}

/// A tick label in the unit that suits the whole axis.
fn tick(at: Duration, total: Duration) -> String {
    match total.as_millis() {
        0..2 => format!("{} µs", at.as_micros()),
        2..20 => format!("{:.1} ms", at.as_secs_f64() * 1e3),
        20..2000 => format!("{} ms", at.as_millis()),
        _ if at.subsec_millis() == 0 => format!("{} s", at.as_secs()),
        _ => format!("{:.1} s", at.as_secs_f64()),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}~")
}
