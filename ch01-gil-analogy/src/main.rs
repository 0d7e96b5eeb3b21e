//! Sections 1.4-1.5: hands the parsed arguments to the library; a child process does its job.

use std::process::ExitCode;

fn main() -> ExitCode {
    ch01_gil_analogy::die_quietly_on_closed_stdout();
    if let Some(code) = shared::child::serve(ch01_gil_analogy::demos::run_job) {
        return code;
    }
    let cli: ch01_gil_analogy::Cli = shared::cli::parse_or_exit();
    shared::cli::report_errors(ch01_gil_analogy::run(cli))
}
