//! The command line: which demo of section 1.7 to run, and its sizes. Sizes are global flags, so
//! both `-- --requests 5` and `-- requests --requests 5` work.

use std::net::IpAddr;

use clap::{Args, Parser, Subcommand, value_parser};
use serde::{Deserialize, Serialize};

/// Section 1.7 of the notes: an event loop built from scratch, measured against tokio.
/// Without a demo name, every demo runs in the order of the notes (not `serve`).
#[derive(Parser, Debug)]
#[command(name = "ch01-event-loop", version)]
pub struct Cli {
    /// Which demo to run (all of them when left out).
    #[command(subcommand)]
    pub demo: Option<Demo>,
    /// Sizes of the work.
    #[command(flatten)]
    pub sizes: Sizes,
    /// The flags every chapter crate shares.
    #[command(flatten)]
    pub common: shared::cli::CommonArgs,
}

/// The demos, in the order of the notes.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Demo {
    /// 1.7: N HTTP GETs on the hand-built loop's own sockets, then the same with tokio + reqwest.
    Requests,
    /// 1.7: many concurrent sleeps: a sorted map of deadlines vs tokio's timer wheel (memory and time).
    Timers,
    /// 1.7: round trips per second of a loopback echo server, hand-built loop vs tokio.
    EchoBench,
    /// 1.7: a task that never awaits blocks the whole loop (one long iteration).
    Cooperative,
    /// 1.7 and the summary: CPU-heavy work inside a task, on tokio's blocking pool, in a child process.
    Offload,
    /// 1.7: an echo server on the hand-built loop, one thread, until Ctrl-C (try `nc`).
    Serve(ServeArgs),
}

/// What this program does when `timers` or `offload` re-runs it as a child (`shared::child`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Job {
    /// One runtime's batch of `count` sleeps, in a fresh process so that peak memory is its own.
    Timers {
        /// Which runtime, by its row's name (`hand_built`, `tokio`, ...).
        runtime: String,
        /// How many sleeps.
        count: u64,
    },
    /// The offload demo's CPU-heavy job, this many rounds; answers its checksum.
    Offload(u64),
}

/// Where `serve` listens.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct ServeArgs {
    /// Port to listen on, 0-65535 (0: any free port, printed at start). Required.
    // Optional for clap only: clap's "required argument missing" spans several lines;
    // `serve::run` gives the one-line error instead.
    #[arg(long, value_name = "PORT", value_parser = value_parser!(u16))]
    pub port: Option<u16>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
}

/// The sizes of the demos.
#[derive(Args, Debug, Clone)]
pub struct Sizes {
    /// requests: how many GETs run at once.
    #[arg(long, global = true, default_value_t = 100, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..=20_000))]
    pub requests: u64,
    /// requests: how long the server waits before answering each one, in milliseconds.
    #[arg(long, global = true, default_value_t = 500, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub delay_ms: u64,
    /// timers: how many 1-second sleeps run at once.
    #[arg(long, global = true, default_value_t = 10_000, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub count: u64,
    /// echo-bench: how many client connections at once.
    #[arg(long, global = true, default_value_t = 32, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..=2_000))]
    pub connections: u64,
    /// echo-bench: round trips of 64 bytes per connection.
    #[arg(long, global = true, default_value_t = 1_000, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub round_trips: u64,
    /// cooperative: how long the greedy task computes without awaiting, in milliseconds of CPU time.
    #[arg(long, global = true, default_value_t = 300, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub hog_ms: u64,
    /// offload: how long the CPU-heavy job computes, in milliseconds of CPU time.
    #[arg(long, global = true, default_value_t = 300, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub job_ms: u64,
    /// Print one line per iteration of the hand-built loop (to standard error).
    #[arg(long, global = true)]
    pub trace: bool,
    /// requests: the server to ask (the shared `--url`); `None` starts the embedded one.
    #[arg(skip)]
    pub url: Option<reqwest::Url>,
}
