//! The command line: which demo of section 1.6 to run, and its sizes ([`crate::run`] runs it).

use std::net::IpAddr;

use clap::{Args, Parser, Subcommand, value_parser};
use shared::cli::CommonArgs;

/// The most echo-server clients: all connect first, and one-at-a-time accepts one at a time, so
/// the rest wait in the accept queue (std asks `listen` for 128); one more hangs in `connect()`.
pub const MAX_CLIENTS: u64 = 128;

/// Section 1.6 of the notes, run on your machine: blocking sockets, non-blocking sockets, and
/// readiness from the OS (epoll/kqueue through mio). Without a demo name, runs the four demos
/// in order (not `serve`).
#[derive(Parser, Debug)]
#[command(name = "ch01-sockets", version)]
pub struct Cli {
    /// The demo to run (default: blocking, busy-poll, readiness, echo-server in that order).
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
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Demo {
    /// [1.6] Sockets block by default: while `read` waits, its thread does nothing else.
    Blocking,
    /// [1.6] Non-blocking mode: `read` returns WouldBlock at once; polling in a loop burns a core.
    BusyPoll,
    /// [1.6] Readiness: let the OS (epoll via mio) wake us when data is there; near-zero CPU.
    Readiness,
    /// [1.6] Three echo servers under the same load: one at a time, thread per client, one thread + mio.
    EchoServer,
    /// [1.6] Run the non-blocking echo server until Ctrl-C, to try with `nc` (not in the default run).
    Serve(ServeArgs),
}

/// Where `serve` listens.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct ServeArgs {
    /// Port to listen on, 0-65535 (0: any free port, printed at start).
    #[arg(long, value_name = "PORT", value_parser = value_parser!(u16))]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
}

/// Sizes of the demos; each applies to the demos that name it.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// blocking, busy-poll, readiness: how long the local server waits before it replies.
    #[arg(long, global = true, default_value_t = 300, value_name = "MS",
          value_parser = value_parser!(u64).range(1..=10_000))]
    pub delay_ms: u64,
    /// blocking, busy-poll, readiness: how often the ticker ("other work") wants to run.
    #[arg(long, global = true, default_value_t = 10, value_name = "MS",
          value_parser = value_parser!(u64).range(1..=1_000))]
    pub tick_ms: u64,
    /// echo-server: clients connected at the same time (at most 128, the kernel's accept queue).
    #[arg(long, global = true, default_value_t = 100, value_name = "N",
          value_parser = value_parser!(u64).range(1..=MAX_CLIENTS))]
    pub clients: u64,
    /// echo-server: lines (round trips) each client sends.
    #[arg(long, global = true, default_value_t = 100, value_name = "N",
          value_parser = value_parser!(u64).range(1..=100_000))]
    pub lines: u64,
    /// echo-server: bytes per line.
    #[arg(long, global = true, default_value_t = 64, value_name = "BYTES",
          value_parser = value_parser!(u64).range(16..=65_536))]
    pub line_bytes: u64,
}

impl Sizes {
    /// `--delay-ms` and `--tick-ms`.
    pub fn delay_and_tick(&self) -> (std::time::Duration, std::time::Duration) {
        let ms = std::time::Duration::from_millis;
        (ms(self.delay_ms), ms(self.tick_ms))
    }
}
