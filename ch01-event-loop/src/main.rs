//! Section 1.7: parses the command line and runs the demos (see `lib.rs` and `README.md`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli: ch01_event_loop::cli::Cli = shared::cli::parse_or_exit();
    shared::cli::report_errors(ch01_event_loop::demos::run(&cli))
}
