//! `cargo run -p ch01-sync-vs-async [-- <demo>]`: parses the arguments; the demos are the library.

fn main() -> std::process::ExitCode {
    let cli: ch01_sync_vs_async::Cli = shared::cli::parse_or_exit();
    shared::cli::report_errors(ch01_sync_vs_async::run(&cli))
}
