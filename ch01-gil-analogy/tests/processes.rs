//! Processes and threads (sections 1.4 and 1.5): their own pid, their own memory, their own GIL,
//! and computing at the same time.

use ch01_gil_analogy::SelfExe;
use ch01_gil_analogy::demos::processes_and_threads::{
    hello_from_a_child, measure_start, processes_copy, threads_share,
};
use shared::trace::record;

fn exe() -> SelfExe {
    SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"))
}

#[test]
fn threads_share_the_parents_memory() {
    let (sharing, spans) = record(|| threads_share(10_000));
    assert!(!sharing.pid_differs());
    assert_eq!(sharing.parent_sees, 20_000);
    assert!(sharing.shared_memory());
    assert_eq!(
        shared::trace::threads_used(&spans),
        2,
        "two threads counted"
    );
}

#[test]
fn a_child_process_has_its_own_pid_and_its_own_memory() {
    let (sharing, children) = processes_copy(10_000, &exe()).expect("children ran");
    assert!(sharing.pid_differs());
    assert!(!sharing.worker_pids.contains(&std::process::id()));
    assert_eq!(
        sharing.workers_counted, 20_000,
        "each child counted in its copy"
    );
    assert_eq!(sharing.parent_sees, 0, "the parent's counter never changed");
    assert!(!sharing.shared_memory());
    // The children's spans came back over their stdout, carrying their own pids.
    let pids: Vec<u32> = children
        .iter()
        .flat_map(|c| &c.spans)
        .map(|s| s.pid)
        .collect();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|pid| sharing.worker_pids.contains(pid)));
}

#[test]
fn a_child_names_this_process_as_its_parent() {
    let child = hello_from_a_child(&exe()).expect("child ran").report;
    assert_ne!(child.pid, std::process::id());
    #[cfg(unix)]
    assert_eq!(child.parent_pid, Some(std::process::id()));
}

#[test]
fn starting_threads_and_processes_is_measured_per_unit() {
    let [threads, processes] = measure_start(5, &exe()).expect("started");
    assert_eq!((threads.name, threads.units), ("thread_start", 5));
    assert_eq!((processes.name, processes.units), ("process_start", 5));
    for row in [&threads, &processes] {
        assert!(row.per_unit_us > 0.0);
        assert!((row.per_unit_us * 5.0 / 1e3 - row.wall_ms).abs() < 1e-6);
    }
}
