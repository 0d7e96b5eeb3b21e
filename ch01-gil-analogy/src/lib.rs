#![doc = include_str!("../README.md")]
//!
//! Modules: [`demos`] (one per demo), [`gil`] (the model interpreter and its lock), [`child`]
//! (child processes re-executing this binary), [`thread_cap`] (how many threads are safe to
//! start), [`cli`] (arguments).

pub mod child;
pub mod cli;
pub mod demos;
pub mod gil;
pub mod thread_cap;

use anyhow::Context as _;
use shared::Narrator;

pub use child::SelfExe;
pub use cli::{ChildCommand, Cli, Demo, Sizes};

use child::ChildJob;

/// Runs what the command line asks for, starting child processes from this very executable.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    run_with(cli, &SelfExe::current()?)
}

/// Like [`run`], with the executable to start child processes from (tests pass the demo
/// binary, since their own executable is the test harness).
pub fn run_with(cli: Cli, exe: &SelfExe) -> anyhow::Result<()> {
    if let Some(Demo::Child { job }) = &cli.demo {
        return demos::run_in_child(child_job(job, &cli.sizes)?);
    }
    let narrator = Narrator::new(&cli.common);
    let demos = match &cli.demo {
        Some(demo) => vec![demo.clone()],
        None => Demo::ALL.to_vec(),
    };
    // A wrong --url should fail before any demo runs, not after the first has printed.
    if let Some(url) = &cli.common.url {
        if demos.contains(&Demo::Gil) {
            shared::workloads::check_reachable(url)?;
        }
    }
    for demo in &demos {
        run_demo(demo, &cli, &narrator, exe)?;
    }
    Ok(())
}

/// Runs one demo, narrated as `narrator` says.
pub fn run_demo(demo: &Demo, cli: &Cli, narrator: &Narrator, exe: &SelfExe) -> anyhow::Result<()> {
    let sizes = &cli.sizes;
    match demo {
        Demo::ProcessesAndThreads => demos::processes_and_threads::run(sizes, exe, narrator),
        Demo::Gil => demos::gil::run(sizes, cli.common.url.as_ref(), exe, narrator).map(drop),
        Demo::Refcount => demos::refcount::run(sizes, narrator),
        Demo::Coroutines => demos::coroutines::run(sizes, exe, narrator),
        Demo::Child { .. } => anyhow::bail!("the child subcommand is not a demo"),
    }
    .with_context(|| format!("the {} demo failed", demo_name(demo)))
}

/// Lets a closed standard output end the program quietly, as it ends `cat` or `ls`
/// (`cargo run -p ch01-gil-analogy | head`), instead of a panic in the middle of `println!`.
/// Rust ignores SIGPIPE by default; this puts back the operating system's default.
pub fn die_quietly_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler of ours, so there is no
    // handler that could break async-signal safety; it is done once, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The name a demo has on the command line.
///
/// ```
/// assert_eq!(ch01_gil_analogy::demo_name(&ch01_gil_analogy::Demo::Gil), "gil");
/// ```
pub fn demo_name(demo: &Demo) -> &'static str {
    match demo {
        Demo::ProcessesAndThreads => "processes-and-threads",
        Demo::Gil => "gil",
        Demo::Refcount => "refcount",
        Demo::Coroutines => "coroutines",
        Demo::Child { .. } => child::CHILD_COMMAND,
    }
}

fn child_job(job: &ChildCommand, sizes: &Sizes) -> anyhow::Result<ChildJob> {
    Ok(match *job {
        ChildCommand::Hello => ChildJob::Hello,
        ChildCommand::Increment { start, times } => ChildJob::Increment { start, times },
        ChildCommand::Fib => ChildJob::Fib {
            n: sizes.fib.context("the fib child needs --fib")?,
            switch_interval: sizes.switch_interval(),
        },
        ChildCommand::Nothing => ChildJob::Nothing,
        ChildCommand::Sleepers { way } => ChildJob::Sleepers {
            way,
            units: sizes.units,
        },
        ChildCommand::FibOnCpu { cpu } => ChildJob::FibOnCpu {
            n: sizes.fib.context("the fib child needs --fib")?,
            switch_interval: sizes.switch_interval(),
            cpu,
        },
        ChildCommand::Fetch { port } => ChildJob::Fetch {
            port,
            delay_ms: sizes.delay,
        },
    })
}
