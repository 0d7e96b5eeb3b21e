//! The command-line flags every chapter crate shares, defined once, and the rule that bad input
//! gets one clear line and a non-zero exit instead of a panic or a wall of usage text.
//!
//! A chapter crate flattens [`CommonArgs`] into its own clap parser:
//!
//! ```
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     common: shared::cli::CommonArgs,
//! }
//! let cli = Cli::try_parse_from(["demo", "--json"]).unwrap();
//! assert!(cli.common.json);
//! let args = shared::cli::CommonArgs::default();
//! assert!(!args.json && !args.quiet && !args.no_timeline && args.url.is_none());
//!
//! use shared::cli::{parse_http_url, report_errors, try_parse_from};
//! assert!(parse_http_url("http://127.0.0.1:8080/delay/100").is_ok());
//! assert!(parse_http_url("ftp://example.com").is_err() && parse_http_url("not a url").is_err());
//! assert!(parse_http_url("http://").is_err());
//! #[derive(clap::Parser, Debug)]
//! struct Requests { #[arg(long)] requests: usize }
//! let error = try_parse_from::<Requests>(["demo", "--requests", "abc"]).unwrap_err();
//! assert!(error.starts_with("error: invalid value 'abc'") && !error.contains('\n'));
//! let missing = try_parse_from::<Requests>(["demo"]).unwrap_err();
//! assert!(missing.contains("--requests"), "{missing}");
//! assert_eq!(report_errors(Err(anyhow::anyhow!("boom"))), std::process::ExitCode::FAILURE);
//! ```

use std::process::ExitCode;

use clap::{Args, Parser};
use reqwest::Url;

/// `--json`, `--quiet`, `--no-timeline`, `--no-python` and `--url`: the same in every chapter crate.
#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Print the results as JSON, one line per demo, and nothing else on standard output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only the result tables: no narration, no progress, no timeline.
    #[arg(long, global = true, conflicts_with = "json")]
    pub quiet: bool,
    /// Leave out the timelines.
    #[arg(long, global = true)]
    pub no_timeline: bool,
    /// Leave out the rows that run the book's Python (CPython) beside the Rust.
    #[arg(long, global = true)]
    pub no_python: bool,
    /// Send requests to this URL instead of the embedded local server (e.g. a real website).
    #[arg(long, global = true, value_name = "URL", value_parser = parse_http_url)]
    pub url: Option<Url>,
}

/// Accepts only absolute `http://` or `https://` URLs (their parser requires a host), or says why.
pub fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("only http and https URLs, not {other}")),
    }
}

/// Parses the command line into `T`: `--help` exits 0, an error prints one line and exits 2.
pub fn parse_or_exit<T: Parser>() -> T {
    T::try_parse().unwrap_or_else(|error| {
        // Help and version (to stdout) and the help a missing subcommand shows: as clap prints them.
        let missing = clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
        if !error.use_stderr() || error.kind() == missing {
            error.exit()
        }
        eprintln!("{} (see --help)", one_line(&error));
        std::process::exit(2)
    })
}

/// Like [`parse_or_exit`] from an argument list, returning the one-line error instead of exiting.
pub fn try_parse_from<T: Parser>(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<T, String> {
    T::try_parse_from(args).map_err(|error| one_line(&error))
}

/// Clap's first paragraph (flag, value and problem; a list of missing flags too) on one line.
fn one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let lines = rendered.lines().map(str::trim).skip_while(|l| l.is_empty());
    let paragraph: Vec<&str> = lines.take_while(|l| !l.is_empty()).collect();
    if paragraph.is_empty() {
        return "error: invalid arguments".into();
    }
    paragraph.join(" ")
}

/// A demo's result as the exit status: an error is printed as one `error: ...` line, status 1.
pub fn report_errors(result: anyhow::Result<()>) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    // `{:#}` prints the whole chain of causes on one line, separated by ": ".
    eprintln!("error: {}", format!("{error:#}").replace('\n', " "));
    ExitCode::FAILURE
}
