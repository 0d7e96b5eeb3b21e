//! File-descriptor limits (sections 1.1 and 1.6): every socket costs one, so 1,000 concurrent
//! requests need about 2,000 (client and server side). The soft limit (often 1,024) is raised once
//! to the hard one; when even that is too small we say so instead of "Too many open files".

/// The current soft limit on open file descriptors, if the OS reports one.
pub fn soft_limit() -> Option<u64> {
    read_limit().map(|limit| limit.rlim_cur)
}

/// Raises the soft limit to the hard limit (idempotent) and returns the soft limit now in force.
pub fn raise_to_hard_limit() -> u64 {
    let Some(mut limit) = read_limit() else {
        return u64::MAX;
    };
    // macOS refuses values above OPEN_MAX even when the hard limit says "unlimited".
    let max = if cfg!(target_os = "macos") {
        10_240
    } else {
        u64::MAX
    };
    let wanted = limit.rlim_max.min(max);
    if limit.rlim_cur < wanted {
        let before = std::mem::replace(&mut limit.rlim_cur, wanted);
        // SAFETY: `limit` is a valid rlimit that lives across the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            limit.rlim_cur = before;
        }
    }
    limit.rlim_cur
}

/// Checks that `needed` descriptors fit under the (raised) limit, or says what to do.
pub fn ensure_available(needed: u64, what: &str) -> anyhow::Result<()> {
    let limit = raise_to_hard_limit();
    // Leave room for stdio, the runtime's own descriptors and the odd log file.
    anyhow::ensure!(
        needed <= limit.saturating_sub(64),
        "{what} need about {needed} file descriptors, but this process may open only {limit} \
         (hard limit): lower the number, or raise the limit with `ulimit -n` as root"
    );
    Ok(())
}

/// True for "too many open files" (per process or system-wide).
pub fn is_out_of_fds(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

fn read_limit() -> Option<libc::rlimit> {
    // SAFETY: an all-zero rlimit is a valid, writable value for getrlimit to fill.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (status == 0).then_some(limit)
}
