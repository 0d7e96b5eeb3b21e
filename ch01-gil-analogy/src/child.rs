//! Sections 1.4 and 1.5: the jobs a child process of this program does, and `fork`.
//!
//! Python's `multiprocessing` can start a child by running the interpreter again on the same
//! program ("spawn"); `shared::child` does the same with this binary and a [`Job`], and the child
//! answers with its spans and a result. Section 1.4's "a process's memory is private" needs the
//! other start method, `fork` (Python's default on Linux before 3.14): only a child that starts
//! as a *copy* of the parent's memory can show it, so [`fork`] makes one (Unix only).

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// What a child process is asked to do (the demos run it: `demos::run_job`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Job {
    /// Say who it is: a [`Hello`].
    Hello,
    /// Start and exit: what starting a process costs.
    Nothing,
    /// The model interpreter's fib(n) under the child's own GIL (its one thread never has to
    /// hand it over), on one CPU if `cpu` says so (the world where two processes take turns).
    Fib {
        /// fib's argument.
        n: u32,
        /// The one CPU to run on, if any.
        cpu: Option<usize>,
    },
    /// `units` sleepers at once, as OS threads or as tokio tasks on one thread (`coroutines`).
    Sleepers {
        /// OS threads, or else tasks.
        threads: bool,
        /// How many.
        units: u64,
    },
    /// One blocking request to our server on 127.0.0.1:`port` under the child's own GIL.
    Fetch {
        /// The embedded server's port.
        port: u16,
        /// How long it waits before it answers.
        delay_ms: u64,
    },
}

/// A thread or a process saying who it is (listings 1.2 to 1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Its process id.
    pub pid: u32,
    /// Its parent's process id.
    pub parent_pid: u32,
    /// The OS id of the thread that answered.
    pub thread_id: u64,
    /// How many threads its process had (Linux only).
    pub threads: Option<u64>,
    /// Its process's anonymous resident memory in KiB (Linux only).
    pub anon_kb: Option<u64>,
}

impl Hello {
    /// Who the calling thread is.
    pub fn here() -> Self {
        Self {
            pid: std::process::id(),
            parent_pid: std::os::unix::process::parent_id(),
            thread_id: shared::timing::os_thread_id(),
            threads: thread_count(),
            anon_kb: anon_memory_kb(),
        }
    }
}

/// The number of threads of this process (Linux: `Threads:` in `/proc/self/status`).
pub fn thread_count() -> Option<u64> {
    status_number("Threads:")
}

/// This process's anonymous resident memory in KiB: heap and stacks, pages it shares with none.
pub fn anon_memory_kb() -> Option<u64> {
    status_number("RssAnon:")
}

fn status_number(field: &str) -> Option<u64> {
    kb_field(&std::fs::read_to_string("/proc/self/status").ok()?, field)
}

/// The number after `field` in a `/proc` text such as `/proc/meminfo` (`MemAvailable: 123 kB`).
pub fn kb_field(text: &str, field: &str) -> Option<u64> {
    let value = text.lines().find_map(|line| line.strip_prefix(field))?;
    value.trim().trim_end_matches("kB").trim().parse().ok()
}

/// A child process made by [`fork`], not yet waited for.
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
/// gets only the calling thread: a lock any other thread held at that moment (the allocator's,
/// stdout's, the tracing recorder's) stays locked forever in the child. So the child never
/// allocates, prints or records a span, and leaves with `_exit`, which runs no destructors.
pub fn fork(work: impl FnOnce() -> u64) -> std::io::Result<Forked> {
    use std::os::fd::FromRawFd as _;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe just opened both descriptors, and nothing else owns them; dropped, they close.
    let (answer, write_end) = unsafe {
        let [read_end, write_end] = fds.map(|fd| std::os::fd::OwnedFd::from_raw_fd(fd));
        (std::fs::File::from(read_end), write_end)
    };
    // SAFETY: the child below runs only `work` (arithmetic and atomics, by this function's
    // contract), `write` and `_exit`, all async-signal-safe, and never returns into the caller.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            use std::os::fd::AsRawFd as _;
            let answer = work().to_ne_bytes();
            // SAFETY: `answer` is valid for its length; write and _exit are async-signal-safe
            // (and _exit runs no destructors).
            unsafe {
                libc::write(write_end.as_raw_fd(), answer.as_ptr().cast(), answer.len());
                libc::_exit(0)
            }
        }
        pid => {
            // The parent's copy of the write end closes here (the child has its own), so a child
            // that dies without answering leaves the read end at end-of-file.
            drop(write_end);
            Ok(Forked { pid, answer })
        }
    }
}

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

impl Drop for Forked {
    /// A child never waited for would stay a zombie until this process exits.
    fn drop(&mut self) {
        if self.pid != 0 {
            let _ = self.reap();
        }
    }
}
