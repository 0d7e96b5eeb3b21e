//! Sections 1.4 and 1.5: child processes, made the portable way.
//!
//! Python's `multiprocessing` can start a child by re-running the interpreter on the same program
//! (the "spawn" start method). We do the same: the parent re-executes *this very binary* with a
//! hidden subcommand (`__child ...`), never `fork`. The child has its own process id, its own
//! memory and, in the GIL demo, its own lock. It answers on standard output with JSON lines: the
//! spans it recorded (merged into the parent's timeline) and one [`ChildReport`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use shared::legacy::{SpanKind, SpanRecorder};

use crate::gil::Gil;

/// The hidden subcommand's name.
pub const CHILD_COMMAND: &str = "__child";

/// What a child did, sent to the parent as one JSON line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildReport {
    /// The child's process id.
    pub pid: u32,
    /// Its parent's process id, as the child sees it.
    pub parent_pid: u32,
    /// The job's result: a counter's final value or a fib value (0 for `hello`).
    pub value: u64,
}

#[derive(Serialize, Deserialize)]
struct WireReport {
    child_report: ChildReport,
}

impl ChildReport {
    fn for_this_process(value: u64) -> Self {
        Self {
            pid: std::process::id(),
            parent_pid: std::os::unix::process::parent_id(),
            value,
        }
    }

    fn to_json_line(self) -> String {
        serde_json::to_string(&WireReport { child_report: self })
            .expect("a report always serializes")
    }
}

/// The jobs a child process can be asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildJob {
    /// Say hello: report the pid.
    Hello,
    /// Start a counter at `start` (the parent's value, copied as `spawn` would) and add 1 `times`.
    Increment {
        /// The parent's counter value, passed as the child's starting copy.
        start: u64,
        /// How many increments.
        times: u64,
    },
    /// Run the model interpreter's fib(n) under the child's own GIL.
    Fib {
        /// fib's argument.
        n: u32,
        /// The child's switch interval.
        switch_interval: Duration,
    },
}

impl ChildJob {
    /// The command-line arguments that ask a child for this job.
    ///
    /// ```
    /// use ch01_gil_analogy::child::ChildJob;
    /// assert_eq!(ChildJob::Hello.args(), ["__child", "hello"]);
    /// ```
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![CHILD_COMMAND.to_string()];
        match *self {
            ChildJob::Hello => args.push("hello".into()),
            ChildJob::Increment { start, times } => args.extend([
                "increment".into(),
                "--start".into(),
                start.to_string(),
                "--times".into(),
                times.to_string(),
            ]),
            ChildJob::Fib { n, switch_interval } => args.extend([
                "fib".into(),
                "--fib".into(),
                n.to_string(),
                "--switch-interval".into(),
                switch_interval.as_millis().max(1).to_string(),
            ]),
        }
        args
    }
}

/// Runs a job inside the child process and prints its answer on standard output.
pub fn run_in_child(job: ChildJob) -> anyhow::Result<()> {
    let recorder = SpanRecorder::new();
    let task = format!("child pid {}", std::process::id());
    let (value, spans) = match job {
        ChildJob::Hello => (0, recorder.to_json_lines()),
        ChildJob::Increment { start, times } => {
            // This counter lives in the child's memory only; the parent never sees it change.
            let counter = AtomicU64::new(start);
            recorder.in_span(&task, SpanKind::Cpu, || {
                for _ in 0..times {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
            (counter.load(Ordering::Relaxed), recorder.to_json_lines())
        }
        ChildJob::Fib { n, switch_interval } => {
            let gil = Gil::new(switch_interval);
            let value = gil.attach(task).run_fib(n);
            (value, gil.recorder().to_json_lines())
        }
    };
    print!("{spans}");
    println!("{}", ChildReport::for_this_process(value).to_json_line());
    Ok(())
}

/// CPU time used by this process's children that have exited and been waited for (user +
/// system). The parent's own CPU clock does not include it, so runs that use child processes
/// add the difference to their CPU time.
///
/// ```
/// let before = ch01_gil_analogy::child::children_cpu_time();
/// assert!(ch01_gil_analogy::child::children_cpu_time() >= before);
/// ```
pub fn children_cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for getrusage to fill.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The program to re-execute for a child process. The demo binary uses its own path
/// ([`SelfExe::current`]); tests and benchmarks pass the binary Cargo built
/// (`env!("CARGO_BIN_EXE_ch01-gil-analogy")`), because inside them `current_exe` is the test
/// harness, which knows no `__child` subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfExe {
    path: PathBuf,
}

/// A child process started with [`SelfExe::spawn`]; [`wait`](Self::wait) collects its answer.
#[derive(Debug)]
pub struct RunningChild {
    child: Child,
}

impl SelfExe {
    /// The running executable.
    ///
    /// ```
    /// assert!(ch01_gil_analogy::child::SelfExe::current().is_ok());
    /// ```
    pub fn current() -> anyhow::Result<Self> {
        let path = std::env::current_exe().context("cannot find this program's own path")?;
        Ok(Self { path })
    }

    /// A given executable (which must understand the hidden `__child` subcommand).
    ///
    /// ```
    /// let exe = ch01_gil_analogy::child::SelfExe::at("/bin/true");
    /// assert_eq!(exe.path(), std::path::Path::new("/bin/true"));
    /// ```
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The executable's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a child process for `job`; its stdout is captured, its stderr goes to ours.
    pub fn spawn(&self, job: ChildJob) -> anyhow::Result<RunningChild> {
        let child = Command::new(&self.path)
            .args(job.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start a child process {}", self.path.display()))?;
        Ok(RunningChild { child })
    }

    /// Runs one child to the end and merges its spans into `recorder`.
    pub fn run(&self, job: ChildJob, recorder: &SpanRecorder) -> anyhow::Result<ChildReport> {
        self.spawn(job)?.wait(recorder)
    }
}

impl RunningChild {
    /// The child's process id, as the parent sees it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to exit, merges its spans into `recorder` and returns its report.
    pub fn wait(self, recorder: &SpanRecorder) -> anyhow::Result<ChildReport> {
        let output = self
            .child
            .wait_with_output()
            .context("waiting for a child process failed")?;
        if !output.status.success() {
            bail!("a child process failed ({})", output.status);
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let other_lines = recorder.merge_json_lines(&text);
        other_lines
            .iter()
            .find_map(|line| serde_json::from_str::<WireReport>(line).ok())
            .map(|wire| wire.child_report)
            .context("a child process did not report its result")
    }
}
