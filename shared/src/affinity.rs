//! Pinning a thread to a CPU (sections 1.3 and 1.5): two threads pinned to one CPU progress only
//! by the OS's time-slicing, two pinned to different CPUs run at the same moment. Linux only
//! (`sched_setaffinity`); elsewhere nothing is pinned and the CPU is not known.

/// The CPUs this process may run on, lowest first.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> anyhow::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is the empty set, a valid value of this plain C struct.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid and writable, and the size passed is its size.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        let error = std::io::Error::last_os_error();
        anyhow::bail!("could not read this process's CPU affinity: {error}");
    }
    // SAFETY: every index is below CPU_SETSIZE, the number of CPUs a cpu_set_t holds.
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect();
    anyhow::ensure!(!cpus.is_empty(), "no CPU is allowed for this process");
    Ok(cpus)
}

/// Elsewhere: as many CPUs as the OS reports, none of which can be chosen.
#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> anyhow::Result<Vec<usize>> {
    Ok((0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect())
}

/// Restricts the calling thread to `cpu`.
pub fn to_cpu(cpu: usize) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: an all-zero cpu_set_t is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `cpu` comes from allowed_cpus, so it is below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
        // SAFETY: pid 0 means the calling thread; `set` is valid for the size passed.
        if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } != 0 {
            let error = std::io::Error::last_os_error();
            anyhow::bail!("could not pin a thread to CPU {cpu}: {error}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
    Ok(())
}

/// The CPU the calling thread is running on right now, where the OS says.
pub fn current_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_getcpu has no preconditions.
    return usize::try_from(unsafe { libc::sched_getcpu() }).ok();
    #[cfg(not(target_os = "linux"))]
    None
}
