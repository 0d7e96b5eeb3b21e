//! `cargo run -p ch01-sockets [-- <demo>]`: parses the command line; the demos are in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Re-run as a child process: serve one of the echo servers (the job is its `ServerKind`).
    if let Some(code) = shared::child::serve(ch01_sockets::demos::echo_server::serve) {
        return code;
    }
    let cli: ch01_sockets::cli::Cli = shared::cli::parse_or_exit();
    shared::cli::report_errors(ch01_sockets::run(&cli))
}
