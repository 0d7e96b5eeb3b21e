//! `cargo run -p ch01-sync-vs-async [-- <demo>]`: parses the arguments; the demos are the library.

fn main() -> std::process::ExitCode {
    shared::cli::report_errors(ch01_sync_vs_async::run(&shared::cli::parse_or_exit()))
}
