//! How a demo talks to the learner (every section): header and claim, progress, results table,
//! timeline, "what you just saw". One [`Narrator`] per run, from the [`CommonArgs`]: `--json`
//! prints only JSON lines, `--quiet` only tables; progress goes to a terminal's stderr only.
//! [`record`] and [`python`] follow the flags too, so demos and tests call `measure(&Sizes)` alike.

use std::io::{IsTerminal, Write as _};
use std::sync::{Once, PoisonError, RwLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use owo_colors::{OwoColorize as _, Stream};
use serde::Serialize;

use crate::cli::CommonArgs;
use crate::python::{Absent, Python};
use crate::report::Report;
use crate::timeline::{self, Style};
use crate::trace::{Recording, Span};

/// What the run prints: everything, the tables only (`--quiet`), or one JSON line per demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Narrated,
    Quiet,
    Json,
}

/// Prints a demo's narration in the mode the command line chose.
#[derive(Debug, Clone)]
pub struct Narrator {
    mode: Mode,
    timelines: bool,
    style: Style,
}

impl Narrator {
    /// The narrator the shared flags ask for; [`record`] and [`python`] follow them too.
    pub fn new(args: &CommonArgs) -> Self {
        // Every span of the run, this process's or a child's, is then recorded on one clock.
        crate::trace::install();
        let mode = match (args.json, args.quiet) {
            (true, _) => Mode::Json,
            (false, true) => Mode::Quiet,
            (false, false) => Mode::Narrated,
        };
        *FLAGS.write().unwrap_or_else(PoisonError::into_inner) = (mode, args.no_python);
        Self {
            mode,
            timelines: !args.no_timeline,
            style: Style::detect(),
        }
    }

    /// True with `--json`: a demo that prints its results in parts prints them whole instead.
    pub fn json(&self) -> bool {
        self.mode == Mode::Json
    }

    fn narrated(&self) -> bool {
        self.mode == Mode::Narrated
    }

    /// The opening lines of a demo: the section, its title and the claim about to be shown.
    pub fn header(&self, section: &str, title: &str, claim: &str) {
        if self.narrated() {
            let rule = "=".repeat(self.style.width.min(72));
            let title = format!("{section}  {title}");
            let title = title.if_supports_color(Stream::Stdout, |t| t.bold());
            let claim = self.wrap(claim, "", "");
            print(format_args!("\n{rule}\n{title}\n{rule}\n{claim}\n"));
        }
    }

    /// Narration, wrapped to the terminal, keeping each line's own indentation.
    pub fn say(&self, text: impl AsRef<str>) {
        if self.narrated() {
            for line in text.as_ref().lines() {
                let indent = &line[..line.len() - line.trim_start().len()];
                print(self.wrap(line.trim_start(), indent, indent));
            }
        }
    }

    /// Prints the results: a table (narrated and quiet modes) or one JSON line (`--json`).
    pub fn report<M: Serialize>(&self, report: &Report<M>) {
        print(match self.mode {
            Mode::Json => report.to_json_line(),
            _ => report.table(self.style.width, self.style.fancy),
        });
    }

    /// Draws a timeline of the spans (narrated mode, unless `--no-timeline`).
    pub fn timeline(&self, title: &str, spans: &[Span]) {
        if self.narrated() && self.timelines && !spans.is_empty() {
            let drawn = timeline::render(spans, &self.style);
            print(format_args!("timeline: {title}\n{drawn}"));
        }
    }

    /// The closing lines: what the learner just saw, and which section of the notes it shows.
    pub fn summary(&self, section: &str, lines: &[String]) {
        if self.narrated() {
            self.say(format!("What you just saw (notes, section {section}):"));
            for line in lines {
                print(self.wrap(line, "  - ", "    "));
            }
        }
    }

    fn wrap(&self, text: &str, first: &str, rest: &str) -> String {
        let options = textwrap::Options::new(self.style.width)
            .initial_indent(first)
            .subsequent_indent(rest);
        textwrap::fill(text, options)
    }
}

/// One line of output, ignoring a closed stdout (`| head -3`), where `println!` would panic.
fn print(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// The mode and `--no-python` of the run's [`Narrator::new`]; tests make none and get `Quiet`.
static FLAGS: RwLock<(Mode, bool)> = RwLock::new((Mode::Quiet, false));

fn flags() -> (Mode, bool) {
    *FLAGS.read().unwrap_or_else(PoisonError::into_inner)
}

/// `work`'s value and spans, with a progress bar on a terminal's stderr (narrated mode) counting
/// the `span_name` spans that close (`total` expected, a spinner when unknown) until it returns.
pub fn record<T>(
    what: &str,
    span_name: &'static str,
    total: Option<u64>,
    work: impl FnOnce() -> T,
) -> (T, Vec<Span>) {
    let recording = Recording::start();
    let bar = if flags().0 == Mode::Narrated && std::io::stderr().is_terminal() {
        let template = match total {
            Some(_) => "  {msg} [{bar:30}] {pos}/{len}, {elapsed}",
            None => "  {spinner} {msg}, {elapsed}",
        };
        let bar = total.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
        let style = ProgressStyle::with_template(template).unwrap_or(ProgressStyle::default_bar());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar.with_style(style).with_message(what.to_string())
    } else {
        ProgressBar::hidden()
    };
    let counter = bar.clone();
    recording.on_close(move |span| counter.inc(u64::from(span.name == span_name)));
    let value = work();
    bar.finish_and_clear();
    (value, recording.finish())
}

/// The `python3` for the CPython rows, or `None` after saying why not (once; stderr with `--json`).
pub fn python() -> Option<Python> {
    static SAID: Once = Once::new();
    let (mode, no_python) = flags();
    let say = |absent: Absent| {
        SAID.call_once(|| match mode {
            Mode::Json => eprintln!("{absent}"),
            _ => print(textwrap::fill(&absent.to_string(), Style::detect().width)),
        })
    };
    Python::find(no_python).map_err(say).ok()
}

/// A count with its noun in agreement: "1 time", "3 times", "0 clients".
/// ```
/// use shared::narrate::{plural, times};
/// assert_eq!(plural(1, "time", "times"), "1 time");
/// assert_eq!(plural(0, "client", "clients"), "0 clients");
/// assert_eq!(plural(2, "I/O event", "I/O events"), "2 I/O events");
/// assert_eq!([times(120.0, 10.0), times(14.0, 10.0)], ["12 times", "1.40x"]);
/// assert_eq!(times(3.0, 10.0), "0.30x");
/// ```
pub fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// How many times `a` is `b`, in words: "12 times" from 2 up, "1.40x" below (never "0 times").
pub fn times(a: f64, b: f64) -> String {
    let r = crate::timing::ratio(a, b);
    if r >= 2.0 {
        format!("{r:.0} times")
    } else {
        format!("{r:.2}x")
    }
}
