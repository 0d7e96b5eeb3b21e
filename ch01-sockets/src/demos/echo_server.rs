//! Section 1.6, demo `echo-server`: many clients, three ways to serve them.
//!
//! The same load — C clients, each sending lines and waiting for every echo — against three
//! servers: blocking sockets one client at a time (the others wait in line), blocking sockets
//! with a thread per client, and one thread with non-blocking sockets and readiness from mio.
//! Each server counts how many clients it had connected at once.

use std::time::Duration;

use anyhow::Context;
use shared::legacy::report::{DemoReport, Measurement};
use shared::legacy::{Narrator, Span, SpanRecorder};

use crate::SECTION;
use crate::cli::Sizes;
use crate::echo::load::{self, Load, LoadOutcome, Recording};
use crate::echo::stats::StatsSnapshot;
use crate::echo::{ServerKind, any_local_port};

/// Clients with a row in the timelines.
const TIMELINE_ROWS: usize = 6;

/// One server under the load.
#[derive(Debug, Clone)]
pub struct ServerRun {
    /// Which server.
    pub kind: ServerKind,
    /// What the clients measured.
    pub outcome: LoadOutcome,
    /// What the server counted.
    pub stats: StatsSnapshot,
    /// The first clients' spans: waiting to be served, then being served.
    pub spans: Vec<Span>,
}

/// The load the command line asks for.
pub fn load_from(sizes: &Sizes) -> Load {
    Load {
        clients: sizes.clients as usize,
        lines: sizes.lines as usize,
        line_bytes: sizes.line_bytes as usize,
    }
}

/// Runs the load against `kind`; `progress` counts round trips.
pub fn measure(
    kind: ServerKind,
    load: Load,
    progress: Option<&std::sync::atomic::AtomicU64>,
) -> anyhow::Result<ServerRun> {
    let server = kind
        .start(any_local_port())
        .with_context(|| format!("starting the {} server", kind.measurement_name()))?;
    let recorder = SpanRecorder::new();
    let recording = Recording {
        recorder: &recorder,
        rows: TIMELINE_ROWS,
    };
    let outcome = load::run(server.addr(), load, Some(recording), progress)
        .with_context(|| format!("load against the {} server", kind.measurement_name()))?;
    let stats = server.stats();
    server.stop().context("stopping the server")?;
    Ok(ServerRun {
        kind,
        outcome,
        stats,
        spans: recorder.spans(),
    })
}

/// The demo, narrated.
pub fn run(narrator: &Narrator, load: Load) -> anyhow::Result<DemoReport> {
    narrator.header(
        SECTION,
        "One thread, many clients: an echo server on non-blocking sockets",
        "With readiness notification one thread serves every client at once; with blocking \
         sockets it is one client at a time, or one thread per client.",
    );
    narrator.say(format!(
        "{} clients connect, then each sends {} lines of {} bytes, one at a time, checking every \
         echoed byte.",
        load.clients, load.lines, load.line_bytes
    ));
    // Each client holds a socket, and so does the server for it.
    shared::fdlimit::ensure_available(2 * load.clients as u64 + 16, "the echo clients")?;

    let mut report = DemoReport::new("echo-server", SECTION);
    let mut runs = Vec::new();
    for kind in ServerKind::ALL {
        let total = (load.clients * load.lines) as u64;
        let progress = narrator.progress(
            format!("{} round trips", kind.measurement_name()),
            Some(total),
        );
        let run = measure(kind, load, Some(&progress.counter()))?;
        drop(progress);
        report.push(
            Measurement::new(kind.measurement_name(), run.outcome.wall)
                .field("threads", run.stats.threads_started as f64)
                .field("max_concurrent_clients", run.stats.max_connected as f64)
                .field("round_trips_per_sec", run.outcome.round_trips_per_sec()),
        );
        runs.push(run);
    }
    narrator.report(&report, Some("one_at_a_time"));
    for run in &runs {
        narrator.timeline(
            &format!(
                "{}: first {} clients (~ waiting to be served, # being served)",
                run.kind.measurement_name(),
                TIMELINE_ROWS.min(load.clients)
            ),
            &run.spans,
        );
    }
    let by = |kind: ServerKind| runs.iter().find(|r| r.kind == kind).map(|r| r.stats);
    let (one, per_thread, nonblocking) = (
        by(ServerKind::OneAtATime).unwrap_or_default(),
        by(ServerKind::ThreadPerConnection).unwrap_or_default(),
        by(ServerKind::SingleThreadNonblocking).unwrap_or_default(),
    );
    narrator.summary(
        SECTION,
        &[
            &format!(
                "Blocking, one thread: at most {} client connected at a time; the others waited \
                 in line (the staircase above).",
                one.max_connected
            ),
            &format!(
                "Thread per connection: {} clients at once, for {} threads.",
                per_thread.max_connected, per_thread.threads_started
            ),
            &format!(
                "Non-blocking + mio: {} clients at once on {} thread; it slept in poll() until \
                 some socket was ready, so waiting on one client never held up another.",
                nonblocking.max_connected, nonblocking.threads_started
            ),
        ],
    );
    Ok(report)
}

/// Bench and test helper: the three servers' round trips per second for one load.
pub fn round_trips_per_sec(load: Load) -> anyhow::Result<Vec<(ServerKind, f64, Duration)>> {
    ServerKind::ALL
        .into_iter()
        .map(|kind| {
            let run = measure(kind, load, None)?;
            Ok((kind, run.outcome.round_trips_per_sec(), run.outcome.wall))
        })
        .collect()
}
