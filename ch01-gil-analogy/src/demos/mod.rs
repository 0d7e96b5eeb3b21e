//! The demos, one module each, in the order of the notes (sections 1.4 and 1.5).

pub mod coroutines;
pub mod cpython;
pub mod gil;
pub mod processes_and_threads;
pub mod refcount;

use std::time::Duration;

use shared::Recording;

use crate::child::ChildJob;
use crate::gil::Gil;

/// Runs a job inside the child process (see [`crate::child`]) and prints its answer.
pub fn run_in_child(job: ChildJob) -> anyhow::Result<()> {
    let recording = Recording::start();
    let mut lines = Vec::new();
    let pid = std::process::id();
    let value = match job {
        ChildJob::Hello | ChildJob::Nothing => 0,
        ChildJob::Increment { start, times } => tracing::info_span!("child pid", pid)
            .in_scope(|| processes_and_threads::count_in_a_copy(start, times)),
        ChildJob::Fib { n, switch_interval } => Gil::new(switch_interval)
            .attach(format!("pid {pid}"))
            .run_fib(n),
        ChildJob::Sleepers { way, units } => {
            lines.push(coroutines::in_child(way, units)?);
            0
        }
        ChildJob::FibOnCpu {
            n,
            switch_interval,
            cpu,
        } => {
            shared::affinity::to_cpu(cpu)?;
            Gil::new(switch_interval)
                .attach(format!("pid {pid}"))
                .run_fib(n)
        }
        ChildJob::Fetch { port, delay_ms } => {
            let url: reqwest::Url = format!("http://127.0.0.1:{port}/delay/{delay_ms}").parse()?;
            let client = shared::workloads::blocking_http_client(&url)?;
            let gil = Gil::new(Duration::from_millis(5));
            u64::from(gil::request(&gil, format!("pid {pid}"), &client, &url)?)
        }
    };
    crate::child::answer(&recording.finish(), &lines, value)
}
