//! The demos, one module each, in the order of the notes, and the jobs their children do.

pub mod coroutines;
pub mod gil;
pub mod processes_and_threads;
pub mod refcount;

use std::time::Duration;

use serde_json::{Value, to_value};

use crate::child::{Hello, Job};
use crate::gil::Gil;

/// Does `job` in this child process and returns its result for the parent.
pub fn run_job(job: Job) -> anyhow::Result<Value> {
    // The child's own GIL, for its one thread (CPython's default switch interval).
    let gil = Gil::new(Duration::from_millis(5));
    let name = format!("pid {}", std::process::id());
    Ok(match job {
        Job::Hello => to_value(Hello::here())?,
        Job::Nothing => Value::Null,
        Job::Fib { n, cpu } => {
            cpu.map(shared::affinity::to_cpu).transpose()?;
            to_value(gil.attach(name).run_fib(n))?
        }
        Job::Sleepers { threads, units } => to_value(coroutines::in_child(threads, units)?)?,
        Job::Fetch { port, delay_ms } => {
            let url: reqwest::Url = format!("http://127.0.0.1:{port}/delay/{delay_ms}").parse()?;
            let client = shared::workloads::blocking_http_client(&url)?;
            to_value(gil::request(&gil, name, &client, &url)?)?
        }
    })
}
