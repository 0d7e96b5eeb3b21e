//! `cargo run -p ch01-sync-vs-async [-- <demo>]`: sections 1.1-1.3, measured.
//! Only parses the arguments; the demos live in the library.

fn main() -> std::process::ExitCode {
    let cli: ch01_sync_vs_async::Cli = shared::cli::parse_or_exit();
    shared::cli::report_errors(ch01_sync_vs_async::run(&cli))
}
