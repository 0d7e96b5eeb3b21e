//! Which demo to run and how big. Every size is a global flag (`-- --requests 5` and
//! `-- requests --requests 5` both work), and clap refuses one out of range in one line.

use clap::{Args, Parser, Subcommand};
use shared::cli::CommonArgs;

/// Sections 1.1-1.3 of chapter 1, measured: sync vs async, I/O- vs CPU-bound work, concurrency
/// vs parallelism. Without a demo name, runs all four in the order of the notes.
#[derive(Parser, Debug, Clone)]
#[command(name = "ch01-sync-vs-async", version)]
pub struct Cli {
    /// The demo to run (all of them when left out).
    #[command(subcommand)]
    pub demo: Option<Demo>,
    /// The flags every chapter crate shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Sizes of the work.
    #[command(flatten)]
    pub sizes: Sizes,
}

/// The demos, in the order of the notes.
#[derive(Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demo {
    /// [1.1] N requests: blocking one by one, async one by one, and all at once.
    Requests,
    /// [1.1] A long task runs in the background while the main task keeps working.
    Background,
    /// [1.2] Wall time vs CPU time of an I/O-bound step and a CPU-bound step.
    IoVsCpu,
    /// [1.3] Cooperative tasks, a starving task, time-slicing on one core, parallel threads.
    Multitasking,
}

/// How big each demo is. With the defaults the whole run takes about half a minute.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// requests: how many requests each leg makes.
    #[arg(long, global = true, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub requests: u64,
    /// requests, io-vs-cpu: how long the server takes to answer each request, in ms.
    #[arg(long, global = true, value_name = "D", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub delay_ms: u64,
    /// requests: the two sequential legs make at most this many requests (they take N x D).
    #[arg(long, global = true, value_name = "K", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub sequential_limit: u64,
    /// background: how long the background task (a slow request) takes, in ms.
    #[arg(long, global = true, value_name = "MS", default_value_t = 1500,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub background_ms: u64,
    /// io-vs-cpu: how long the CPU-bound step keeps formatting headers, in ms.
    #[arg(long, global = true, value_name = "MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub cpu_ms: u64,
    /// multitasking: how long each busy task or thread runs, in ms.
    #[arg(long, global = true, value_name = "MS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub busy_ms: u64,
    /// requests, background, io-vs-cpu: the server to ask (`--url`); `None` starts the embedded one.
    #[arg(skip)]
    pub url: Option<reqwest::Url>,
}

impl Default for Sizes {
    fn default() -> Self {
        Self::from_flags("")
    }
}

impl Sizes {
    /// The sizes these flags give (`"--busy-ms 150"`), the others at their defaults.
    pub fn from_flags(flags: &str) -> Self {
        let args = std::iter::once("ch01-sync-vs-async").chain(flags.split_whitespace());
        Cli::parse_from(args).sizes
    }
}
