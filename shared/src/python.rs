//! The book's CPython programs beside the Rust (sections 1.1 to 1.7), answering like a child
//! ([`crate::child::Running`]) with their spans on the same clock: `python/spans.py`, put in front
//! of each, gives them `span`, `traced` and `answer(result)`. A `python3` (3.8+) is all it needs.

use std::fmt;
use std::process::Command;
use std::sync::{Once, OnceLock};

use serde::de::DeserializeOwned;

use crate::child::{Finished, Running};

/// A Python program carried inside the binary: `Script::new("a.py", include_str!("a.py"))`.
#[derive(Debug, Clone, Copy)]
pub struct Script {
    /// Its file name, for messages.
    pub name: &'static str,
    /// Its source.
    pub source: &'static str,
}

impl Script {
    /// A program named `name` with this source.
    pub const fn new(name: &'static str, source: &'static str) -> Self {
        Self { name, source }
    }
}

/// Why the Python rows are left out. Displays as the one line a demo says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Absent {
    /// `--no-python`.
    NotWanted,
    /// No `python3` on `PATH`.
    NotFound,
    /// A `python3` older than 3.8.
    TooOld(String),
}

impl fmt::Display for Absent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CPython rows left out")?;
        match self {
            Absent::NotWanted => write!(f, " (--no-python)"),
            Absent::NotFound => write!(f, ": no python3 on PATH"),
            Absent::TooOld(version) => write!(f, ": python3 is {version}, older than 3.8"),
        }
    }
}

/// A `python3` of version 3.8 or newer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Python {
    /// Its version, e.g. `3.11.7`.
    pub version: String,
}

impl Python {
    /// The `python3` on `PATH`, unless `not_wanted` (`--no-python`). Looked up once.
    pub fn find(not_wanted: bool) -> Result<Python, Absent> {
        static FOUND: OnceLock<Result<Python, Absent>> = OnceLock::new();
        if not_wanted {
            return Err(Absent::NotWanted);
        }
        FOUND.get_or_init(look_up).clone()
    }

    /// Starts `script` with `args`, beside this process.
    pub fn spawn(&self, script: &Script, args: &[String]) -> anyhow::Result<Running> {
        crate::trace::now(); // the shared clock starts before the program's first span
        let program = format!("{}\n{}", include_str!("../python/spans.py"), script.source);
        let mut command = Command::new("python3");
        command.arg("-c").arg(program).args(args);
        Running::start(command, format!("python3 running {}", script.name))
    }

    /// Runs `script` with `args` to the end and reads its answer and spans.
    pub fn run<R: DeserializeOwned>(
        &self,
        script: &Script,
        args: &[String],
    ) -> anyhow::Result<Finished<R>> {
        let started = crate::trace::now();
        let finished = self.spawn(script, args)?.wait()?;
        check_clock(&finished.spans, started..crate::trace::now());
        Ok(finished)
    }
}

fn look_up() -> Result<Python, Absent> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(*sys.version_info[:3], sep='.')"])
        .output()
        .map_err(|_| Absent::NotFound)?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let parts: Vec<u32> = version.split('.').flat_map(str::parse).collect();
    if !output.status.success() || parts < vec![3, 8] {
        return Err(Absent::TooOld(version));
    }
    Ok(Python { version })
}

/// Says so where python3's clock is not ours (it is on Linux): its spans land outside its run.
fn check_clock(spans: &[crate::Span], ran: std::ops::Range<std::time::Duration>) {
    static SAID: Once = Once::new();
    let outside = |span: &crate::Span| span.opened < ran.start || span.closed > ran.end;
    if spans.iter().any(outside) {
        let note = "python3's clock is not this program's here: its spans are drawn where its clock \
                    puts them";
        SAID.call_once(|| eprintln!("note: {note}"));
    }
}
