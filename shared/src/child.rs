//! Re-running this program as a child with a typed job, like `multiprocessing`'s "spawn"
//! (sections 1.4, 1.5, 1.7): `<program> __child '<job as JSON>'`, whose `main` hands the job to
//! [`serve`]; it prints the job's spans, then one result line, which the parent reads on its own
//! clock. The programs of [`crate::python`] answer alike, so one reader serves both.
//!
//! ```no_run
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Double(u64);
//! // In main, before parsing arguments:
//! if let Some(code) = shared::child::serve(|Double(n): Double| Ok(n * 2)) {
//!     std::process::exit(if code == std::process::ExitCode::SUCCESS { 0 } else { 1 });
//! }
//! // In the parent:
//! let finished = shared::child::SelfExe::current()?.run::<u64>(&Double(21))?;
//! assert_eq!(finished.result, 42);
//! # anyhow::Ok(())
//! ```

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};

use anyhow::{Context as _, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::from_str;

use crate::trace::{Span, from_json_lines, record, to_json_lines};

static CURRENT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The hidden first argument that makes this program a child.
pub const CHILD_ARG: &str = "__child";

/// The program to re-run: the running binary, or in tests and benchmarks (whose running executable
/// is the harness) the one [`SelfExe::set_current`] names with `env!("CARGO_BIN_EXE_<name>")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfExe {
    path: PathBuf,
}

impl SelfExe {
    /// The running executable, or the one [`set_current`](Self::set_current) named.
    pub fn current() -> anyhow::Result<Self> {
        let path = CURRENT.get().cloned().map(Ok);
        let path = path.unwrap_or_else(std::env::current_exe);
        Ok(Self::at(path.context("cannot find this program's path")?))
    }

    /// Makes [`current`](Self::current) return `path`: a test's demo code re-runs the demo binary.
    pub fn set_current(path: impl Into<PathBuf>) {
        let _ = CURRENT.set(path.into());
    }

    /// A given executable, which must hand `__child` to [`serve`].
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Starts a child for `job`, beside this process.
    pub fn spawn(&self, job: &impl Serialize) -> anyhow::Result<Running> {
        let mut command = Command::new(&self.path);
        command.arg(CHILD_ARG).arg(serde_json::to_string(job)?);
        Running::start(command, self.path.display().to_string())
    }

    /// Runs a child for `job` to the end and reads its answer.
    pub fn run<R: DeserializeOwned>(&self, job: &impl Serialize) -> anyhow::Result<Finished<R>> {
        self.spawn(job)?.wait()
    }
}

/// What a child answered when it finished.
#[derive(Debug, Clone)]
pub struct Finished<R> {
    /// The job's result.
    pub result: R,
    /// The spans it recorded, moved onto this process's clock.
    pub spans: Vec<Span>,
}

/// A running child, its standard streams piped to us; a serving one serves until its stdin closes.
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// Lines already read with [`read_line`](Self::read_line), kept for [`wait`](Self::wait).
    read: String,
    /// Read on its own thread, so that a child writing much to stderr never blocks on a full pipe.
    stderr: Option<std::thread::JoinHandle<String>>,
    what: String,
}

impl Running {
    /// Starts `command` with piped standard streams; `what` names it in errors.
    pub(crate) fn start(mut command: Command, what: String) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let stdout = BufReader::new(child.stdout.take().context("no stdout pipe")?);
        let pipe = child.stderr.take().context("no stderr pipe")?;
        let stderr = std::thread::spawn(move || std::io::read_to_string(pipe).unwrap_or_default());
        Ok(Self {
            child,
            stdout,
            read: String::new(),
            stderr: Some(stderr),
            what,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's next output line that is not a span (e.g. its address); an error if it ends.
    pub fn read_line(&mut self) -> anyhow::Result<String> {
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line)? == 0 {
                let status = self.child.wait()?;
                bail!("{} ended before it said anything ({status})", self.what);
            }
            self.read.push_str(&line);
            if from_json_lines(&line).0.is_empty() {
                return Ok(line.trim_end().to_string());
            }
        }
    }

    /// Waits for the child to exit and reads its spans and result.
    pub fn wait<R: DeserializeOwned>(mut self) -> anyhow::Result<Finished<R>> {
        // Closing its standard input is the signal a serving child finishes on.
        drop(self.child.stdin.take());
        let mut text = std::mem::take(&mut self.read);
        self.stdout.read_to_string(&mut text)?;
        let status = self.child.wait()?;
        if !status.success() {
            let stderr = self.stderr.take().and_then(|reader| reader.join().ok());
            let stderr = stderr.unwrap_or_default();
            let last = stderr.lines().rfind(|line| !line.trim().is_empty());
            let last = last.unwrap_or("no message");
            bail!("{} failed ({status}): {last}", self.what);
        }
        let (spans, other) = from_json_lines(&text);
        let answer = other.iter().rev().find_map(|l| from_str(l).ok());
        let Answer {
            child_result: result,
        } = answer.with_context(|| format!("{} did not report a result", self.what))?;
        Ok(Finished { result, spans })
    }
}

impl Drop for Running {
    /// A child left running (an error on the way) is stopped, not left behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Answer<R> {
    child_result: R,
}

/// In a child ([`CHILD_ARG`] first): does the job, prints its spans and result, returns the exit
/// code for `main`. `None` otherwise.
pub fn serve<J: DeserializeOwned, R: Serialize>(
    work: impl FnOnce(J) -> anyhow::Result<R>,
) -> Option<ExitCode> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some(CHILD_ARG) {
        return None;
    }
    let text = args.next().unwrap_or_default();
    let job = from_str(&text).with_context(|| format!("not a job for a child: {text}"));
    let outcome = job.and_then(|job| {
        let (result, spans) = record(|| work(job));
        let child_result = result?;
        print!("{}", to_json_lines(&spans));
        println!("{}", serde_json::to_string(&Answer { child_result })?);
        Ok(())
    });
    Some(crate::cli::report_errors(outcome))
}
