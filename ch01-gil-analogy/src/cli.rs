//! The command line: which demo to run and the sizes, checked by clap (bad input: one line).

use clap::{Args, Parser, Subcommand};
use shared::cli::CommonArgs;

/// The largest `--fib`: the book's fib(40). The model interpreter is much slower than native
/// code, so even that takes minutes in a debug build.
pub const MAX_FIB: u32 = 40;

/// The most `--units`: a million tokio tasks fit in a few hundred MB; more would risk the
/// machine's memory for no new lesson.
pub const MAX_UNITS: u64 = 1_000_000;

/// Sections 1.4-1.5: processes and threads, and a model of Python's global interpreter lock you
/// can switch on and off. Without a demo name, runs every demo in the order of the notes.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ch01-gil-analogy",
    subcommand_value_name = "DEMO",
    subcommand_help_heading = "Demos (in the order of the notes)"
)]
pub struct Cli {
    /// The flags every chapter crate shares.
    #[command(flatten)]
    pub common: CommonArgs,

    /// Sizes of the work.
    #[command(flatten)]
    pub sizes: Sizes,

    /// Which demo to run (all of them when left out).
    #[command(subcommand)]
    pub demo: Option<Demo>,
}

/// The sizes every demo reads; `global` so they go before or after the demo name.
#[derive(Args, Debug, Clone)]
pub struct Sizes {
    /// gil: compute fib(N) with the model interpreter [default: calibrated so that two fibs take
    /// about 1 s on this machine and build]
    #[arg(long, global = true, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_FIB)))]
    pub fib: Option<u32>,

    /// gil: how long a thread may keep the lock once another thread asks for it (CPython: 5 ms)
    #[arg(long, global = true, value_name = "MS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub switch_interval: u64,

    /// gil: how many blocking requests the I/O part makes
    #[arg(long, global = true, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=200))]
    pub requests: u64,

    /// gil: how long the embedded server takes to answer each request
    #[arg(long, global = true, value_name = "MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub delay: u64,

    /// processes-and-threads: how many times each thread or process adds 1; refcount: the least
    /// each thread adds 1 (its race goes on until the threads have overlapped)
    #[arg(long, global = true, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub increments: u64,

    /// coroutines: how many units sleep 1 s at once, as threads and then as tasks (threads are
    /// capped at what this machine allows)
    #[arg(long, global = true, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_UNITS))]
    pub units: u64,

    /// The server the `gil` demo's requests go to (`--url`; the embedded one when left out).
    #[arg(skip)]
    pub url: Option<reqwest::Url>,
}

/// The demos, in the order of the notes.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Demo {
    /// 1.4: a process, its threads and a child process; threads share memory and start faster
    ProcessesAndThreads,
    /// 1.5: a model GIL (and real CPython): CPU-bound threads gain nothing under it, processes and I/O-bound threads do
    Gil,
    /// 1.5: why the GIL exists: objects are freed at a count of zero; a racy count loses updates
    Refcount,
    /// 1.5: a coroutine is a lightweight thread: N tokio tasks vs N OS threads, each sleeping 1 s
    Coroutines,
}
