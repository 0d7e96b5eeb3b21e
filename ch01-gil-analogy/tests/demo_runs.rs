//! Every demo runs end to end with tiny sizes.

use ch01_gil_analogy::{Cli, Demo, SelfExe, run_demo};
use shared::narrate::{Mode, Narrator};

fn run(demo: Demo, args: &[&str]) {
    let mut all = vec!["ch01-gil-analogy"];
    all.extend_from_slice(args);
    let cli: Cli = shared::cli::try_parse_from(all).expect("valid arguments");
    let exe = SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"));
    run_demo(&demo, &cli, &Narrator::with_mode(Mode::Quiet, false), &exe).expect("demo ran");
}

#[test]
fn processes_and_threads_runs() {
    run(Demo::ProcessesAndThreads, &["--increments", "1000"]);
}

#[test]
fn gil_runs() {
    run(
        Demo::Gil,
        &["--fib", "12", "--requests", "2", "--delay", "10"],
    );
}

#[test]
fn refcount_runs() {
    run(Demo::Refcount, &["--increments", "1000"]);
}

#[test]
fn coroutines_runs() {
    run(Demo::Coroutines, &["--units", "10"]);
}
