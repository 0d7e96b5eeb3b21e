//! Section 1.7: parses the command line and runs the demos (see `lib.rs` and `README.md`), or,
//! re-run as a child process by `timers` or `offload`, does the one job it was given.

use std::process::ExitCode;

use ch01_event_loop::demos;

fn main() -> ExitCode {
    if let Some(code) = shared::child::serve(demos::run_job) {
        return code;
    }
    let cli: ch01_event_loop::cli::Cli = shared::cli::parse_or_exit();
    shared::cli::report_errors(demos::run(&cli))
}
