//! Child processes (sections 1.4 and 1.5): their own pid, their own memory, their own GIL.

use ch01_gil_analogy::SelfExe;
use ch01_gil_analogy::demos::processes_and_threads::{processes_copy, threads_share};
use ch01_gil_analogy::gil;
use shared::legacy::SpanRecorder;

fn exe() -> SelfExe {
    SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"))
}

#[test]
fn threads_share_the_parents_memory() {
    let sharing = threads_share(10_000, &SpanRecorder::new());
    assert!(!sharing.pid_differs());
    assert_eq!(sharing.parent_sees, 20_000);
    assert!(sharing.shared_memory());
}

#[test]
fn a_child_process_has_its_own_pid_and_its_own_memory() {
    let recorder = SpanRecorder::new();
    let sharing = processes_copy(10_000, &exe(), &recorder).expect("children ran");
    assert!(sharing.pid_differs());
    assert!(!sharing.worker_pids.contains(&std::process::id()));
    assert_eq!(
        sharing.workers_counted, 20_000,
        "each child counted in its copy"
    );
    assert_eq!(sharing.parent_sees, 0, "the parent's counter never changed");
    assert!(!sharing.shared_memory());
    // The children's spans came back over their stdout, labelled with their pids.
    let pids: Vec<u32> = recorder.spans().iter().map(|s| s.pid).collect();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|pid| sharing.worker_pids.contains(pid)));
}

#[test]
fn two_processes_compute_fib_each_under_its_own_lock() {
    let run = gil::two_processes(15, std::time::Duration::from_millis(5), &exe()).expect("ran");
    let expected = shared::workloads::fib(15);
    assert_eq!(run.values, [expected, expected]);
    let mut pids: Vec<u32> = run.spans.iter().map(|s| s.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 2, "two processes, two pids");
    assert!(!pids.contains(&std::process::id()));
}
