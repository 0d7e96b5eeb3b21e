//! Processes and threads (sections 1.4 and 1.5): their own pid, their own memory, their own GIL,
//! and computing at the same time.

use std::time::Duration;

use ch01_gil_analogy::SelfExe;
use ch01_gil_analogy::demos::gil::{holding, two_processes};
use ch01_gil_analogy::demos::processes_and_threads::{
    FOOTPRINT_THREADS, Sharing, footprint, hello_from_a_child, hello_from_a_thread, measure_start,
    processes_copy, threads_share,
};
use shared::trace::record;

fn exe() -> SelfExe {
    SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"))
}

/// The workers changed the counter they had, and the parent's counter did not move: memory of
/// their own.
fn kept_to_themselves(sharing: &Sharing, increments: u64) -> bool {
    sharing.workers_saw == increments && sharing.parent_sees == 0 && sharing.private_memory()
}

#[test]
fn threads_share_the_parents_memory() {
    let (sharing, spans) = record(|| threads_share(10_000));
    assert!(!sharing.pid_differs());
    assert_eq!(sharing.workers_counted, 20_000);
    assert_eq!(sharing.parent_sees, 20_000);
    assert!(sharing.shared_memory() && !sharing.private_memory());
    assert_eq!(
        shared::trace::threads_used(&spans),
        2,
        "two threads counted"
    );
}

#[cfg(unix)]
#[test]
fn a_forked_child_changes_its_copy_of_the_counter_and_the_parents_stays() {
    let sharing = processes_copy(10_000).expect("children ran");
    assert!(sharing.pid_differs());
    assert!(!sharing.worker_pids.contains(&std::process::id()));
    assert_eq!(sharing.workers_counted, 20_000, "{sharing:?}");
    // Each child read back its own 10,000 (not 20,000: it never saw its sibling's) while the
    // parent's counter stayed 0.
    assert!(kept_to_themselves(&sharing, 10_000), "{sharing:?}");
    assert!(!sharing.shared_memory());
    // Negative control: threads doing the same thing change the parent's counter, and the same
    // check fails for them.
    let threads = threads_share(10_000);
    assert!(!kept_to_themselves(&threads, 10_000), "{threads:?}");
}

#[test]
fn a_child_names_this_process_as_its_parent() {
    let child = hello_from_a_child(&exe()).expect("child ran").report;
    assert_ne!(child.pid, std::process::id());
    #[cfg(unix)]
    assert_eq!(child.parent_pid, Some(std::process::id()));
}

#[cfg(target_os = "linux")]
#[test]
fn a_fresh_child_has_exactly_one_thread_its_main_thread_whose_id_is_the_pid() {
    let child = hello_from_a_child(&exe()).expect("child ran").report;
    assert_eq!(child.threads, Some(1), "{child:?}");
    assert_eq!(child.thread_id, u64::from(child.pid), "{child:?}");
    // Negative control: a thread this process spawns is not its main thread, and while it runs
    // the process has more than one.
    let (thread_id, pid, threads) = hello_from_a_thread();
    assert_eq!(pid, std::process::id());
    assert_ne!(thread_id, u64::from(pid));
    assert!(threads >= Some(2), "{threads:?}");
}

#[test]
fn two_processes_compute_at_the_same_time_each_under_its_own_lock() {
    let children = two_processes(&exe(), 22, Duration::from_millis(5)).expect("ran");
    let expected = shared::workloads::fib(22);
    assert!(children.iter().all(|c| c.report.value == expected));
    let spans: Vec<_> = children.into_iter().flat_map(|c| c.spans).collect();
    let held = holding(&spans);
    let (a, b): (Vec<&shared::Span>, Vec<&shared::Span>) =
        held.iter().partition(|s| s.pid == held[0].pid);
    assert!(!b.is_empty(), "two processes, two pids");
    assert!(held.iter().all(|s| s.pid != std::process::id()));
    // Both computed at once: a span of one overlaps a span of the other in time. (How much faster
    // that makes them depends on free cores, so no speed is asserted.)
    assert!(
        a.iter().any(|x| b.iter().any(|y| x.overlaps(y))),
        "the processes computed one after the other: {held:#?}"
    );
}

#[test]
fn a_thread_starts_at_least_three_times_faster_than_a_process() {
    // Fails where starting a thread costs what starting a process costs (a thread made as a whole
    // new process, as some old systems did). Measured here: a process is tens to hundreds of times
    // slower, loaded machine or not, so 3x leaves a wide margin for both to be slowed.
    let [threads, processes] = measure_start(20, &exe()).expect("started");
    assert_eq!(
        (threads.name, processes.name),
        ("thread_start", "process_start")
    );
    assert!(
        processes.per_unit_us >= 3.0 * threads.per_unit_us,
        "{threads:?} {processes:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_thread_holds_far_less_memory_of_its_own_than_a_process() {
    let child = hello_from_a_child(&exe()).expect("child ran").report;
    let [threads, process] = footprint(FOOTPRINT_THREADS, &child).expect("Linux has /proc");
    // Fails where a thread costs a process's memory (its own heap and runtime). Other tests in
    // this binary allocate while this one runs, which can only add to the threads' share.
    assert!(threads.kb_per_unit > 0.0, "{threads:?}");
    assert!(
        process.kb_per_unit >= 3.0 * threads.kb_per_unit,
        "{threads:?} {process:?}"
    );
}
