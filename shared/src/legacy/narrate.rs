//! How a demo talks to the learner: a header naming the section and its claim, progress while it
//! waits, the results table, the timeline, and "what you just saw" (every section).
//!
//! One [`Narrator`] per run, made from the [`CommonArgs`]: with `--json` it prints only JSON lines,
//! with `--quiet` only tables, otherwise everything. Narration goes to standard output; progress
//! goes to standard error so that it never mixes with results.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cli::CommonArgs;
use crate::legacy::report::DemoReport;
use crate::legacy::spans::Span;
use crate::legacy::timeline::{self, TimelineStyle};

/// What the run prints.
///
/// ```
/// use shared::legacy::narrate::{Mode, Narrator};
/// assert_eq!(Narrator::with_mode(Mode::Json, false).mode(), Mode::Json);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Headers, progress, tables, timelines and summaries.
    Narrated,
    /// Tables only.
    Quiet,
    /// One JSON line per demo on standard output, nothing else there.
    Json,
}

/// Prints a demo's story according to the [`Mode`].
///
/// ```
/// let narrator = shared::legacy::narrate::Narrator::new(&shared::cli::CommonArgs::default());
/// assert!(narrator.is_narrated());
/// ```
#[derive(Debug, Clone)]
pub struct Narrator {
    mode: Mode,
    timeline: bool,
}

impl Narrator {
    /// The narrator the shared flags ask for.
    ///
    /// ```
    /// let args = shared::cli::CommonArgs { json: true, ..Default::default() };
    /// assert!(shared::legacy::narrate::Narrator::new(&args).is_json());
    /// ```
    pub fn new(args: &CommonArgs) -> Self {
        let mode = if args.json {
            Mode::Json
        } else if args.quiet {
            Mode::Quiet
        } else {
            Mode::Narrated
        };
        Self::with_mode(mode, !args.no_timeline)
    }

    /// A narrator with an explicit mode (tests use [`Mode::Json`] or [`Mode::Quiet`]).
    ///
    /// ```
    /// let quiet = shared::legacy::narrate::Narrator::with_mode(shared::legacy::narrate::Mode::Quiet, true);
    /// assert!(!quiet.is_narrated());
    /// ```
    pub fn with_mode(mode: Mode, timeline: bool) -> Self {
        Self { mode, timeline }
    }

    /// The mode.
    ///
    /// ```
    /// let n = shared::legacy::narrate::Narrator::with_mode(shared::legacy::narrate::Mode::Quiet, true);
    /// assert_eq!(n.mode(), shared::legacy::narrate::Mode::Quiet);
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// True with `--json`.
    ///
    /// ```
    /// assert!(!shared::legacy::narrate::Narrator::new(&Default::default()).is_json());
    /// ```
    pub fn is_json(&self) -> bool {
        self.mode == Mode::Json
    }

    /// True when headers, progress and summaries are printed.
    ///
    /// ```
    /// assert!(shared::legacy::narrate::Narrator::new(&Default::default()).is_narrated());
    /// ```
    pub fn is_narrated(&self) -> bool {
        self.mode == Mode::Narrated
    }

    /// The opening lines of a demo: the section, its title and the claim about to be shown.
    ///
    /// ```
    /// let n = shared::legacy::narrate::Narrator::with_mode(shared::legacy::narrate::Mode::Json, false);
    /// n.header("1.1", "What is asyncio", "Waiting for ten requests one by one takes ten times as long.");
    /// ```
    pub fn header(&self, section: &str, title: &str, claim: &str) {
        if self.is_narrated() {
            let rule = "=".repeat(72);
            let claim = wrap(claim, line_width(), "", "");
            println!("\n{rule}\n{section}  {title}\n{rule}\n{claim}\n");
        }
    }

    /// Narration, as it is: lines that fit the terminal are printed unchanged, longer ones are
    /// wrapped at spaces.
    ///
    /// ```
    /// shared::legacy::narrate::Narrator::with_mode(shared::legacy::narrate::Mode::Quiet, false).say("hidden");
    /// ```
    pub fn say(&self, text: impl AsRef<str>) {
        if self.is_narrated() {
            let width = line_width();
            for line in text.as_ref().split('\n') {
                if line.chars().count() <= width {
                    println!("{line}");
                } else {
                    // Keep the line's own indentation, on every piece of it.
                    let indent = &line[..line.len() - line.trim_start().len()];
                    println!("{}", wrap(line, width, indent, indent));
                }
            }
        }
    }

    /// Shows progress on standard error while a wait goes on (only in narrated mode, and only once
    /// the wait has lasted a second). Drop the returned [`Progress`] when the wait is over.
    ///
    /// ```
    /// let n = shared::legacy::narrate::Narrator::with_mode(shared::legacy::narrate::Mode::Json, false);
    /// let progress = n.progress("waiting for 10 requests", Some(10));
    /// progress.inc();
    /// assert_eq!(progress.done(), 1);
    /// ```
    pub fn progress(&self, label: impl Into<String>, total: Option<u64>) -> Progress {
        Progress::start(label.into(), total, self.is_narrated())
    }

    /// Prints the results: a table (narrated and quiet modes; `baseline` names the row the
    /// speedup column divides by) or one JSON line (`--json`).
    ///
    /// ```
    /// let n = shared::legacy::narrate::Narrator::with_mode(shared::legacy::narrate::Mode::Quiet, false);
    /// n.report(&shared::legacy::report::DemoReport::new("gil", "1.5"), None);
    /// ```
    pub fn report(&self, report: &DemoReport, baseline: Option<&str>) {
        match self.mode {
            Mode::Json => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", report.to_json_line());
                let _ = out.flush();
            }
            Mode::Narrated | Mode::Quiet => println!("{}", report.table(baseline)),
        }
    }

    /// Draws a timeline of the spans (narrated mode, unless `--no-timeline`).
    ///
    /// ```
    /// shared::legacy::narrate::Narrator::with_mode(shared::legacy::narrate::Mode::Json, true).timeline("requests", &[]);
    /// ```
    pub fn timeline(&self, title: &str, spans: &[Span]) {
        if self.is_narrated() && self.timeline && !spans.is_empty() {
            println!("timeline: {title}");
            println!("{}", timeline::render(spans, &TimelineStyle::detect()));
        }
    }

    /// The closing lines: what the learner just saw and which note it confirms.
    ///
    /// ```
    /// shared::legacy::narrate::Narrator::with_mode(shared::legacy::narrate::Mode::Json, false)
    ///     .summary("1.1", &["Concurrent requests took as long as the slowest one."]);
    /// ```
    pub fn summary(&self, section: &str, lines: &[&str]) {
        if self.is_narrated() {
            println!("What you just saw (notes, section {section}):");
            let width = line_width();
            for line in lines {
                println!("{}", wrap(line, width, "  - ", "    "));
            }
        }
    }
}

/// Narration fits the terminal (80 columns when not a terminal), as the timelines do.
fn line_width() -> usize {
    TimelineStyle::detect().width
}

/// Breaks `text` into lines of at most `width` columns at spaces, the first line starting with
/// `first`, the others with `rest` (a hanging indent for bullets). A word longer than a line
/// stays whole.
///
/// ```text
/// wrap("one two three", 9, "- ", "  ") == "- one two\n  three"
/// ```
fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::from(first);
    let mut column = first.chars().count();
    let mut line_has_word = false;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line_has_word && column + 1 + len > width {
            out.push('\n');
            out.push_str(rest);
            column = rest.chars().count();
            line_has_word = false;
        }
        if line_has_word {
            out.push(' ');
            column += 1;
        }
        out.push_str(word);
        column += len;
        line_has_word = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_breaks_at_spaces_with_a_hanging_indent() {
        assert_eq!(wrap("one two three", 9, "- ", "  "), "- one two\n  three");
        assert_eq!(wrap("short", 80, "", ""), "short");
        // A word longer than the line is not cut.
        assert_eq!(wrap("a verylongword b", 6, "", ""), "a\nverylongword\nb");
    }
}

/// A progress line on standard error, redrawn while a wait lasts. Made by
/// [`Narrator::progress`]; count finished work with [`inc`](Self::inc); drop it to stop.
///
/// ```
/// let progress = shared::legacy::narrate::Progress::start("work".into(), None, false);
/// progress.add(3);
/// assert_eq!(progress.done(), 3);
/// ```
#[derive(Debug)]
pub struct Progress {
    done: Arc<AtomicU64>,
    stop: Option<mpsc::Sender<()>>,
    painter: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts the progress line; `visible` false counts silently.
    ///
    /// ```
    /// let progress = shared::legacy::narrate::Progress::start("quiet".into(), Some(2), false);
    /// progress.inc();
    /// progress.inc();
    /// assert_eq!(progress.done(), 2);
    /// ```
    pub fn start(label: String, total: Option<u64>, visible: bool) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        if !visible {
            return Self {
                done,
                stop: None,
                painter: None,
            };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let counter = Arc::clone(&done);
        let painter = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || paint_progress(&label, total, &counter, &stopped))
            .ok();
        Self {
            done,
            stop: Some(stop),
            painter,
        }
    }

    /// Counts one finished piece of work.
    ///
    /// ```
    /// let p = shared::legacy::narrate::Progress::start("x".into(), None, false);
    /// p.inc();
    /// assert_eq!(p.done(), 1);
    /// ```
    pub fn inc(&self) {
        self.add(1);
    }

    /// Counts `n` finished pieces of work.
    ///
    /// ```
    /// let p = shared::legacy::narrate::Progress::start("x".into(), None, false);
    /// p.add(5);
    /// assert_eq!(p.done(), 5);
    /// ```
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// A cheap handle to the counter, for threads and tasks that report progress.
    ///
    /// ```
    /// let p = shared::legacy::narrate::Progress::start("x".into(), None, false);
    /// p.counter().fetch_add(2, std::sync::atomic::Ordering::Relaxed);
    /// assert_eq!(p.done(), 2);
    /// ```
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.done)
    }

    /// How much work was counted so far.
    ///
    /// ```
    /// assert_eq!(shared::legacy::narrate::Progress::start("x".into(), None, false).done(), 0);
    /// ```
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // Closing the channel wakes the painter at once.
        self.stop.take();
        if let Some(painter) = self.painter.take() {
            let _ = painter.join();
        }
    }
}

fn paint_progress(label: &str, total: Option<u64>, done: &AtomicU64, stopped: &mpsc::Receiver<()>) {
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    // Short waits need no progress; a terminal gets a line redrawn in place, a pipe one line a
    // second.
    let mut wait = Duration::from_secs(1);
    let mut painted = false;
    // A message or a closed channel ends the wait; only a timeout means "still waiting".
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
        let elapsed = started.elapsed().as_secs_f64();
        let count = done.load(Ordering::Relaxed);
        let counted = match total {
            Some(total) => format!(" [{count}/{total}]"),
            None if count > 0 => format!(" [{count}]"),
            None => String::new(),
        };
        let mut err = std::io::stderr().lock();
        if terminal {
            let _ = write!(err, "\r\x1b[2K  ... {label}: {elapsed:.1} s{counted}");
            wait = Duration::from_millis(100);
        } else {
            let _ = writeln!(err, "  ... {label}: {elapsed:.1} s{counted}");
        }
        let _ = err.flush();
        painted = true;
    }
    if painted && terminal {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}
