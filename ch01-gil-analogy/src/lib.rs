#![doc = include_str!("../README.md")]
//!
//! Modules: [`demos`], [`gil`] (the model interpreter and its lock), [`child`] (child jobs and
//! `fork`), [`thread_cap`] (how many threads are safe to start), [`cli`].

pub mod child;
pub mod cli;
pub mod demos;
pub mod gil;
pub mod thread_cap;

use anyhow::Context as _;
use demos::{coroutines, processes_and_threads as processes, refcount};
use shared::Narrator;

pub use cli::{Cli, Demo, Sizes};

/// Runs what the command line asks for: one demo, or every demo in the order of the notes.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    use Demo::{Coroutines, Gil, ProcessesAndThreads, Refcount};
    let narrator = Narrator::new(&cli.common);
    let mut sizes = cli.sizes;
    sizes.url = cli.common.url;
    let all = vec![ProcessesAndThreads, Gil, Refcount, Coroutines];
    let demos = cli.demo.map_or(all, |demo| vec![demo]);
    // A wrong --url should fail before any demo runs, not after the first has printed.
    if let Some(url) = sizes.url.as_ref().filter(|_| demos.contains(&Gil)) {
        shared::workloads::check_reachable(url)?;
    }
    for demo in &demos {
        let (name, ran) = match demo {
            ProcessesAndThreads => (processes::DEMO, processes::run(&sizes, &narrator)),
            Gil => (demos::gil::DEMO, demos::gil::run(&sizes, &narrator)),
            Refcount => (refcount::DEMO, refcount::run(&sizes, &narrator)),
            Coroutines => (coroutines::DEMO, coroutines::run(&sizes, &narrator)),
        };
        ran.with_context(|| format!("the {name} demo failed"))?;
    }
    Ok(())
}

/// Lets a closed standard output end the program quietly, as it ends `cat` or `ls`
/// (`cargo run -p ch01-gil-analogy | head`), instead of a panic in the middle of `println!`.
/// Rust ignores SIGPIPE by default; this puts back the operating system's default.
pub fn die_quietly_on_closed_stdout() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler of ours, so there is no
    // handler that could break async-signal safety; it is done once, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
