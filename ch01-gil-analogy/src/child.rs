//! Sections 1.4 and 1.5: child processes, made the portable way.
//!
//! Python's `multiprocessing` can start a child by re-running the interpreter on the same program
//! (the "spawn" start method). We do the same: the parent re-executes *this very binary* with a
//! hidden subcommand (`__child ...`). The child has its own process id, its own memory and, in the
//! GIL demo, its own lock. It answers on standard output with JSON lines: the spans it recorded
//! (`shared::trace::to_json_lines`, merged into the parent's timeline) and one [`ChildReport`].
//!
//! One experiment needs the other start method, `fork` (Python's default on Linux before 3.14):
//! section 1.4's "a process's memory is private" is only visible when the child starts with a
//! *copy* of the parent's memory, so [`fork`] makes such a child (Unix only).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use shared::Span;

/// The hidden subcommand's name.
pub const CHILD_COMMAND: &str = "__child";

/// What a child did, sent to the parent as one JSON line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildReport {
    /// The child's process id.
    pub pid: u32,
    /// Its parent's process id, as the child sees it (known on Unix only).
    pub parent_pid: Option<u32>,
    /// The job's result: a counter's final value or a fib value (0 for the others).
    pub value: u64,
    /// The OS id of the thread that made the report (the child's main thread).
    #[serde(default)]
    pub thread_id: u64,
    /// How many threads the child had when it reported (Linux only).
    #[serde(default)]
    pub threads: Option<u64>,
    /// The child's anonymous resident memory (heap, stacks: pages no other process shares), in
    /// KiB, when it reported (Linux only).
    #[serde(default)]
    pub anon_kb: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct WireReport {
    child_report: ChildReport,
}

impl ChildReport {
    fn for_this_process(value: u64) -> Self {
        Self {
            pid: std::process::id(),
            parent_pid: parent_pid(),
            value,
            thread_id: shared::timing::os_thread_id(),
            threads: thread_count(),
            anon_kb: anon_memory_kb(),
        }
    }
}

/// How a child makes its sleeping units (`coroutines`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Way {
    /// OS threads (`os_threads`).
    Threads,
    /// tokio tasks on one thread (`tokio_tasks`).
    Tasks,
}

impl std::fmt::Display for Way {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Way::Threads => "threads",
            Way::Tasks => "tasks",
        })
    }
}

/// The number of threads of this process (Linux: `Threads:` in `/proc/self/status`).
///
/// ```
/// # #[cfg(target_os = "linux")]
/// assert!(ch01_gil_analogy::child::thread_count().unwrap() >= 1);
/// ```
pub fn thread_count() -> Option<u64> {
    status_number("Threads:")
}

/// This process's anonymous resident memory in KiB: heap and stacks, pages no other process
/// shares (Linux: `RssAnon:` in `/proc/self/status`).
pub fn anon_memory_kb() -> Option<u64> {
    status_number("RssAnon:")
}

fn status_number(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let value = status.lines().find_map(|line| line.strip_prefix(field))?;
    value.trim().trim_end_matches("kB").trim().parse().ok()
}

/// The parent's process id, as this process sees it.
fn parent_pid() -> Option<u32> {
    #[cfg(unix)]
    return Some(std::os::unix::process::parent_id());
    // Windows keeps no parent link a process can ask for without walking a process snapshot.
    #[cfg(not(unix))]
    None
}

/// The jobs a child process can be asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildJob {
    /// Say hello: report the pid.
    Hello,
    /// Nothing at all: start and exit (what starting a process costs).
    Nothing,
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
    /// `units` sleepers at once, as threads or tasks (the `coroutines` demo).
    Sleepers {
        /// Threads or tasks.
        way: Way,
        /// How many.
        units: u64,
    },
    /// [`ChildJob::Fib`] on one given CPU only: the world where two processes can only take
    /// turns (the `gil` tests' control).
    FibOnCpu {
        /// fib's argument.
        n: u32,
        /// The child's switch interval.
        switch_interval: Duration,
        /// The CPU to run on.
        cpu: usize,
    },
    /// One blocking request to the embedded server on this machine, as a thread of the child's
    /// own model interpreter (the `gil` demo's `io_processes`).
    Fetch {
        /// The server's port on 127.0.0.1.
        port: u16,
        /// How long the server waits before it answers.
        delay_ms: u64,
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
            ChildJob::Nothing => args.push("nothing".into()),
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
            ChildJob::Sleepers { way, units } => args.extend([
                "sleepers".into(),
                "--way".into(),
                way.to_string(),
                "--units".into(),
                units.to_string(),
            ]),
            ChildJob::FibOnCpu {
                n,
                switch_interval,
                cpu,
            } => args.extend([
                "fib-on-cpu".into(),
                "--cpu".into(),
                cpu.to_string(),
                "--fib".into(),
                n.to_string(),
                "--switch-interval".into(),
                switch_interval.as_millis().max(1).to_string(),
            ]),
            ChildJob::Fetch { port, delay_ms } => args.extend([
                "fetch".into(),
                "--port".into(),
                port.to_string(),
                "--delay".into(),
                delay_ms.to_string(),
            ]),
        }
        args
    }
}

/// Prints a child's answer on standard output: the spans it recorded, any lines of its own,
/// then its [`ChildReport`] with the job's `value`. The jobs themselves run in
/// `demos::run_in_child` (the demos call down into this module, never the other way).
pub fn answer(spans: &[Span], lines: &[String], value: u64) -> anyhow::Result<()> {
    print!("{}", shared::trace::to_json_lines(spans));
    for line in lines {
        println!("{line}");
    }
    let report = WireReport {
        child_report: ChildReport::for_this_process(value),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// What the parent read from a child that finished.
#[derive(Debug, Clone)]
pub struct ChildOutput {
    /// The child's report.
    pub report: ChildReport,
    /// The spans it recorded, on the parent's clock.
    pub spans: Vec<Span>,
    /// Its other lines of output.
    pub lines: Vec<String>,
}

/// CPU time of the child processes that have ended and been waited for: `shared`'s, named here
/// beside the children that use it.
pub use shared::timing::children_cpu_time;

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

    /// Runs one child to the end.
    pub fn run(&self, job: ChildJob) -> anyhow::Result<ChildOutput> {
        self.spawn(job)?.wait()
    }
}

impl RunningChild {
    /// The child's process id, as the parent sees it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to exit and reads its spans, lines and report.
    pub fn wait(self) -> anyhow::Result<ChildOutput> {
        let output = self
            .child
            .wait_with_output()
            .context("waiting for a child process failed")?;
        if !output.status.success() {
            bail!("a child process failed ({})", output.status);
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let (spans, other) = shared::trace::from_json_lines(&text);
        let report = other
            .iter()
            .find_map(|line| serde_json::from_str::<WireReport>(line).ok())
            .map(|wire| wire.child_report)
            .context("a child process did not report its result")?;
        Ok(ChildOutput {
            report,
            spans,
            lines: other.into_iter().map(str::to_string).collect(),
        })
    }
}

/// A child process made by [`fork`], still running or not yet waited for.
#[cfg(unix)]
#[derive(Debug)]
pub struct Forked {
    /// 0 once waited for.
    pid: libc::pid_t,
    answer: std::fs::File,
}

/// Starts a child process as a copy of this one (`fork`): the same memory at the same addresses,
/// with one thread, the one that called. The child runs `work`, writes the number it returns into
/// a pipe to the parent and exits at once; [`Forked::wait`] reads that number.
///
/// `work` must do arithmetic and atomics only. A child forked from a program with several threads
/// (a test harness, a runtime) gets only the calling thread: a lock any other thread held at that
/// moment (the allocator's, stdout's, the tracing recorder's) stays locked forever in the child.
/// So the child never allocates, prints or records a span, and leaves with `_exit`, which runs no
/// destructors and flushes nothing.
#[cfg(unix)]
pub fn fork(work: impl FnOnce() -> u64) -> std::io::Result<Forked> {
    use std::os::fd::FromRawFd as _;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    // SAFETY: the child below runs only `work` (arithmetic and atomics, by this function's
    // contract), `write` and `_exit`, all async-signal-safe, and never returns into the caller.
    match unsafe { libc::fork() } {
        -1 => {
            let error = std::io::Error::last_os_error();
            // SAFETY: both descriptors are ours and open.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
            Err(error)
        }
        0 => {
            let answer = work().to_ne_bytes();
            // SAFETY: `answer` is valid for its length; write and _exit are async-signal-safe.
            unsafe {
                libc::write(write_end, answer.as_ptr().cast(), answer.len());
                libc::_exit(0)
            }
        }
        pid => {
            // SAFETY: the parent's copy of the write end is ours to close (the child has its own);
            // the read end is open and owned by nothing else, so the File may own it.
            let answer = unsafe {
                libc::close(write_end);
                std::fs::File::from_raw_fd(read_end)
            };
            Ok(Forked { pid, answer })
        }
    }
}

#[cfg(unix)]
impl Forked {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Reads the number the child sent and waits for it to exit.
    pub fn wait(mut self) -> anyhow::Result<u64> {
        use std::io::Read as _;
        let mut bytes = [0; 8];
        let read = self.answer.read_exact(&mut bytes);
        let status = self.reap()?;
        // The exit status first: a child that was killed also sent nothing, and its status says why.
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            bail!("a forked child failed (wait status {status})");
        }
        read.context("a forked child sent no answer")?;
        Ok(u64::from_ne_bytes(bytes))
    }

    /// Waits for the child to exit (once) and returns its wait status.
    fn reap(&mut self) -> anyhow::Result<libc::c_int> {
        let mut status = 0;
        // SAFETY: `pid` is our child, not yet waited for; `status` is writable.
        let reaped = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        let pid = std::mem::replace(&mut self.pid, 0);
        if reaped != pid {
            return Err(std::io::Error::last_os_error())
                .context("waiting for a forked child failed");
        }
        Ok(status)
    }
}

#[cfg(unix)]
impl Drop for Forked {
    /// A child never waited for would stay a zombie until this process exits.
    fn drop(&mut self) {
        if self.pid != 0 {
            let _ = self.reap();
        }
    }
}
