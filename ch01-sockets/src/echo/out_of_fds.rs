//! Section 1.6: what an echo server says when `accept` fails for want of a file descriptor.
//!
//! Every connection costs the server one descriptor, and a process may hold only `ulimit -n` of
//! them (`EMFILE`; `ENFILE` when the whole system is out). The kernel still completes the
//! handshakes and queues the new clients, so from outside they just hang. The server therefore
//! says why, on standard error, at most once per second however often `accept` fails, and
//! goes on serving the clients it has.

use std::io::{self, Write as _};
use std::time::{Duration, Instant};

use shared::narrate::plural;

/// How long to stop accepting after `accept` failed. Retrying at once would fail again at once:
/// a loop that only does that burns a core. Queued clients wait in the kernel meanwhile.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The fewest seconds between two messages.
const SAY_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// Remembers when the server last complained, so that it complains at most once per second.
#[derive(Debug, Default)]
pub struct OutOfFds {
    last_said: Option<Instant>,
}

impl OutOfFds {
    /// `accept` failed with `error`, `connected` clients are being served: print one line to
    /// standard error unless one was printed less than a second ago. True when it printed.
    pub fn say(&mut self, error: &io::Error, connected: u64) -> bool {
        if self
            .last_said
            .is_some_and(|at| at.elapsed() < SAY_AT_MOST_EVERY)
        {
            return false;
        }
        self.last_said = Some(Instant::now());
        // Standard error may be closed: the server keeps serving all the same.
        let _ = writeln!(io::stderr(), "{}", message(error, connected));
        true
    }
}

/// The line: which limit, what it is now, what the server does about it.
pub fn message(error: &io::Error, connected: u64) -> String {
    let (soft, hard) = limits();
    let who = if error.raw_os_error() == Some(libc::ENFILE) {
        "the whole system is"
    } else {
        "this process is"
    };
    let serving = plural(connected, "client", "clients");
    format!(
        "echo server: {who} out of file descriptors ({error}): a process may have {soft} open at \
         once (`ulimit -n` is {soft}, hard limit {hard}). Still serving the {serving} connected; \
         new clients wait in the queue until one leaves."
    )
}

/// The soft and hard limits on open descriptors, as `ulimit -n` and `ulimit -Hn` print them.
fn limits() -> (String, String) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return ("unknown".into(), "unknown".into());
    }
    let show = |n: libc::rlim_t| {
        if n == libc::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            n.to_string()
        }
    };
    (show(limit.rlim_cur), show(limit.rlim_max))
}
