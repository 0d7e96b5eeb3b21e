//! Every demo runs end to end with tiny sizes and reports its measurements.

use ch01_gil_analogy::{Cli, Demo, SelfExe, run_demo};
use shared::legacy::narrate::{Mode, Narrator};

fn cli(args: &[&str]) -> Cli {
    let mut all = vec!["ch01-gil-analogy"];
    all.extend_from_slice(args);
    shared::cli::try_parse_from(all).expect("valid arguments")
}

fn run(demo: Demo, args: &[&str]) -> shared::legacy::DemoReport {
    let exe = SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"));
    run_demo(
        &demo,
        &cli(args),
        &Narrator::with_mode(Mode::Quiet, false),
        &exe,
    )
    .expect("demo ran")
}

#[test]
fn processes_and_threads_runs() {
    let report = run(Demo::ProcessesAndThreads, &["--increments", "1000"]);
    assert_eq!(
        report.get("threads").and_then(|m| m.get("shared_memory")),
        Some(1.0)
    );
    assert_eq!(
        report.get("processes").and_then(|m| m.get("pid_differs")),
        Some(1.0)
    );
}

#[test]
fn gil_runs() {
    let report = run(
        Demo::Gil,
        &["--fib", "12", "--requests", "2", "--delay", "10"],
    );
    assert_eq!(report.measurements.len(), 7);
    assert_eq!(
        report
            .get("io_threads_with_gil")
            .and_then(|m| m.get("max_in_flight")),
        Some(2.0)
    );
}

#[test]
fn refcount_runs() {
    let report = run(Demo::Refcount, &["--increments", "1000"]);
    assert_eq!(
        report.get("atomic").and_then(|m| m.get("lost_updates")),
        Some(0.0)
    );
}
