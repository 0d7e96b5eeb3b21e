//! Section 1.6, demo `echo-server`: many clients, three ways to serve them.
//!
//! The same load (C clients, each sending lines and waiting for every echo) against three echo
//! servers, written first below in the shape of the book's chapter 3 listings: blocking sockets
//! serving one client at a time (listings 3.1 to 3.3), the same accept loop with a thread per
//! client, and one thread with non-blocking sockets and a selector (listing 3.7). These functions
//! are the servers that run, here and in `serve`; what they call for counting, partial writes,
//! slow readers and running out of descriptors is in `src/echo/`.
//!
//! Each server counts how many clients it had connected at once, and its threads' OS context
//! switches: the price of a thread per client that one thread waiting on readiness avoids.

use std::io::{self, Read, Write};
use std::thread;

use mio::Token;
use tracing::info_span;

use crate::echo::blocking_servers::{Client, Listener};
use crate::echo::nonblocking::{LISTENER, Selector};

// ---- the lesson: three echo servers, as the book's chapter 3 would write them in Rust ----

/// Listings 3.1 and 3.2: accept a client, echo it until it leaves, only then accept the next.
/// While it waits in `read` for one client, the others wait in the accept queue (listing 3.3).
pub fn one_at_a_time(mut listener: Listener) {
    for (n, mut client) in listener.incoming().enumerate() {
        // A broken connection ends only this client's turn.
        let _ = info_span!("connection", n).in_scope(|| echo_until_eof(&mut client));
    }
}

/// Listing 3.3's accept loop with a thread for each client (not a listing of the book, the usual
/// way out before non-blocking sockets): a thread may block in `read`, the others go on. The
/// price is a thread per client: its stack, and the OS switching between them all.
pub fn thread_per_client(mut listener: Listener) {
    let mut threads = Vec::new();
    for (n, mut client) in listener.incoming().enumerate() {
        let spawned = thread::Builder::new()
            .name("blocking-echo-client".into())
            .spawn(move || info_span!("connection", n).in_scope(|| echo_until_eof(&mut client)));
        // Out of threads, this client is dropped (its socket closed) and the others go on.
        threads.extend(spawned.ok());
        threads.retain(|thread| !thread.is_finished());
    }
    for thread in threads {
        let _ = thread.join();
    }
}

/// Listing 3.2's loop, `data = connection.recv(...)` then `connection.sendall(data)`, until the
/// client closes its side. Each `read` halts the thread until the client sends something.
pub fn echo_until_eof(client: &mut Client) -> io::Result<()> {
    let mut buffer = [0u8; ECHO_CHUNK];
    loop {
        match client.read(&mut buffer)? {
            0 => return Ok(()),
            n => client.write_all(&buffer[..n])?,
        }
    }
}

/// Listing 3.7: one thread, non-blocking sockets, and a selector (mio's `Poll`: epoll on Linux,
/// kqueue on macOS). The thread sleeps in `select` until the OS reports some sockets ready, then
/// does for each only what it can without blocking, so waiting on one client never holds up
/// another. Returns when stopped, or if the poller itself fails.
pub fn single_thread_selector(mut selector: Selector) -> io::Result<()> {
    let mut ready: Vec<Token> = Vec::new();
    // `events = selector.select()`: false once the server is asked to stop.
    while selector.select(&mut ready)? {
        for &socket in &ready {
            match socket {
                // `event_socket == server_socket`: accept the new clients and register them.
                LISTENER => selector.accept_all(),
                // A client's socket: `recv`, and `send` back what it takes without blocking.
                client => selector.echo(client),
            }
        }
    }
    Ok(())
}

// ---- measuring it: each server under the same load, its own counts, the spans recorded ----

/// How much one blocking `read` of `echo_until_eof` asks for.
// mutants: `16 + 1024` is equivalent: a smaller buffer only takes more reads.
const ECHO_CHUNK: usize = 16 * 1024;

pub use measuring::{DEMO, ServerRun, load_from, measure, round_trips_per_sec, run};

mod measuring {
    use std::io;
    use std::net::SocketAddr;
    use std::time::Duration;

    use anyhow::Context;
    use serde::Serialize;
    use shared::narrate::{Mode, plural};
    use shared::timing::{human_ms, ms, ratio};
    use shared::trace::threads_used;
    use shared::{Narrator, Recording, Report, Span};

    use super::{one_at_a_time, single_thread_selector, thread_per_client};
    use crate::SECTION;
    use crate::cli::Sizes;
    use crate::echo::blocking_servers::BlockingServer;
    use crate::echo::load::{self, Load};
    use crate::echo::nonblocking::NonblockingServer;
    use crate::echo::stats::StatsSnapshot;
    use crate::echo::{RunningServer, ServerKind, any_local_port};

    /// The demo's name in `--help` and `--json`.
    pub const DEMO: &str = "echo-server";

    /// Connections with a row in the timelines.
    const TIMELINE_ROWS: usize = 6;

    // Each kind of server is one of the lesson's functions above, so starting one is here:
    // `echo` holds what they stand on and does not import the lessons.
    impl ServerKind {
        /// Starts this server on `addr` (port 0: any free port), on a thread of its own.
        pub fn start(self, addr: SocketAddr) -> io::Result<RunningServer> {
            Ok(match self {
                ServerKind::OneAtATime => {
                    RunningServer::Blocking(BlockingServer::start(addr, one_at_a_time)?)
                }
                ServerKind::ThreadPerConnection => {
                    RunningServer::Blocking(BlockingServer::start(addr, thread_per_client)?)
                }
                ServerKind::SingleThreadNonblocking => RunningServer::Nonblocking(
                    NonblockingServer::start(addr, single_thread_selector)?,
                ),
            })
        }
    }

    /// One server under the load.
    #[derive(Debug, Clone, Serialize)]
    pub struct ServerRun {
        /// `one_at_a_time`, `thread_per_connection` or `single_thread_nonblocking`.
        pub name: &'static str,
        /// From the first client's connect to the last client's finish.
        pub wall_ms: f64,
        /// Threads the server started (its first thread included).
        pub threads: u64,
        /// The most clients connected to it at the same moment, as the server counted them.
        pub max_concurrent_clients: u64,
        /// Lines sent and echoed back, per second of wall time.
        pub round_trips_per_sec: f64,
        /// OS context switches (voluntary and involuntary) of the server's threads during the load.
        pub server_context_switches: u64,
        /// The same, per line echoed.
        pub context_switches_per_round_trip: f64,
        /// Of those, the voluntary ones: a server thread blocked (in `read`, or in `poll`).
        pub server_voluntary_switches: u64,
        /// The same, per line echoed: about 1 for a server that blocks in `read` for every line.
        pub voluntary_switches_per_round_trip: f64,
        /// Whether every client of the load was connected to the server at the same moment.
        pub all_clients_at_once: bool,
        /// Which server.
        #[serde(skip)]
        pub kind: ServerKind,
        /// What the server counted at the end of the load.
        #[serde(skip)]
        pub stats: StatsSnapshot,
        /// One `connection` span per client, on the thread that served it.
        #[serde(skip)]
        pub spans: Vec<Span>,
    }

    impl ServerRun {
        /// The spans of the first `rows` connections, for a timeline that fits a terminal.
        pub fn first_connections(&self, rows: usize) -> Vec<Span> {
            let shown: Vec<String> = (0..rows).map(|n| format!("connection {n}")).collect();
            self.spans
                .iter()
                .filter(|span| shown.contains(&span.label))
                .cloned()
                .collect()
        }

        /// OS threads that ran the `connection` spans.
        pub fn threads_serving(&self) -> usize {
            threads_used(&self.spans)
        }
    }

    /// The load the command line asks for.
    pub fn load_from(sizes: &Sizes) -> Load {
        Load {
            clients: sizes.clients as usize,
            lines: sizes.lines as usize,
            line_bytes: sizes.line_bytes as usize,
        }
    }

    /// Runs the load against a fresh server of this kind and reads what it counted.
    pub fn measure(kind: ServerKind, load: Load, narrator: &Narrator) -> anyhow::Result<ServerRun> {
        let name = kind.measurement_name();
        let server = kind
            .start(any_local_port())
            .with_context(|| format!("starting the {name} server"))?;
        let recording = Recording::start();
        let progress = narrator.progress(&recording, name, "connection", Some(load.clients as u64));
        let before = server.stats();
        let outcome = load::run(server.addr(), load);
        let after = server.stats();
        // Stopping waits for the server's threads, so every connection span has closed.
        let stopped = server.stop();
        drop(progress);
        let spans = recording.finish();
        let outcome = outcome.with_context(|| format!("load against the {name} server"))?;
        stopped.context("stopping the server")?;
        let switches = after
            .context_switches
            .saturating_sub(before.context_switches);
        let voluntary = after
            .voluntary_switches
            .saturating_sub(before.voluntary_switches);
        let per_round_trip = |count: u64| ratio(count as f64, outcome.round_trips as f64);
        Ok(ServerRun {
            name,
            wall_ms: ms(outcome.wall),
            threads: after.threads_started,
            max_concurrent_clients: after.max_connected,
            round_trips_per_sec: outcome.round_trips_per_sec(),
            server_context_switches: switches,
            context_switches_per_round_trip: per_round_trip(switches),
            server_voluntary_switches: voluntary,
            voluntary_switches_per_round_trip: per_round_trip(voluntary),
            all_clients_at_once: after.max_connected == load.clients as u64,
            kind,
            stats: after,
            spans,
        })
    }

    /// The demo, narrated.
    pub fn run(load: Load, narrator: &Narrator) -> anyhow::Result<Vec<ServerRun>> {
        narrator.header(
            SECTION,
            "One thread, many clients: an echo server on non-blocking sockets",
            "With readiness notification one thread serves every client at once; with blocking \
             sockets it is one client at a time, or one thread per client, and the OS switching \
             between those threads.",
        );
        let who = match load.clients {
            1 => "1 client connects, then sends".to_string(),
            n => format!("{n} clients connect, then each sends"),
        };
        narrator.say(format!(
            "{who} {} of {} bytes, one at a time, checking every echoed byte.",
            plural(load.lines as u64, "line", "lines"),
            load.line_bytes
        ));
        // Each client holds a socket, and so does the server for it.
        shared::fdlimit::ensure_available(2 * load.clients as u64 + 16, "the echo clients")?;

        let runs = ServerKind::ALL
            .into_iter()
            .map(|kind| measure(kind, load, narrator))
            .collect::<anyhow::Result<Vec<_>>>()?;
        narrator.report(&Report::new(DEMO, SECTION, runs.iter().collect()));
        narrator.say(
            "In the timelines, each row is one connection from accept to close, with the OS thread \
             that served it (t...): one thread in turn, one thread each, one thread for all at once.",
        );
        let rows = match TIMELINE_ROWS.min(load.clients) {
            1 => "connection 0".to_string(),
            n => format!("connections 0 to {}", n - 1),
        };
        for run in &runs {
            narrator.timeline(
                &format!("{}, {rows}, each from accept to close", run.name),
                &run.first_connections(TIMELINE_ROWS),
            );
        }
        narrator.summary(SECTION, &summary(&runs, load));
        Ok(runs)
    }

    fn summary(runs: &[ServerRun], load: Load) -> Vec<String> {
        let by = |kind: ServerKind| runs.iter().find(|r| r.kind == kind);
        let (Some(one), Some(threads), Some(single)) = (
            by(ServerKind::OneAtATime),
            by(ServerKind::ThreadPerConnection),
            by(ServerKind::SingleThreadNonblocking),
        ) else {
            return Vec::new();
        };
        let clients = |run: &ServerRun| plural(run.max_concurrent_clients, "client", "clients");
        let mut lines = vec![format!(
            "Blocking, one thread: at most {} connected at a time; the others waited in line (the \
             staircase above).",
            clients(one)
        )];
        lines.push(if threads.all_clients_at_once {
            format!(
                "Thread per connection: {} at once, for {}, in {}.",
                clients(threads),
                plural(threads.threads, "thread", "threads"),
                human_ms(threads.wall_ms)
            )
        } else {
            format!(
                "Thread per connection: {} at once, not all {}, for {}: its accepting thread is \
                 one among all the threads that want a CPU, and it accepted the last clients only \
                 after the first had left.",
                clients(threads),
                load.clients,
                plural(threads.threads, "thread", "threads")
            )
        });
        lines.push(format!(
            "Non-blocking + mio: {} at once on {}, in {}: waiting on one client never held up \
             another.",
            clients(single),
            plural(single.threads, "thread", "threads"),
            human_ms(single.wall_ms)
        ));
        if single.server_context_switches == 0 && threads.server_context_switches == 0 {
            lines.push("Context switches are counted on Linux only; here they read 0.".into());
            return lines;
        }
        let fewer = single.voluntary_switches_per_round_trip
            < one
                .voluntary_switches_per_round_trip
                .min(threads.voluntary_switches_per_round_trip);
        lines.push(format!(
            "Blocked and woken again, per round trip: {:.2} for one at a time and {:.2} for thread \
             per connection (each waits in read() for the next line unless it is there already), \
             {:.2} for the single thread{}",
            one.voluntary_switches_per_round_trip,
            threads.voluntary_switches_per_round_trip,
            single.voluntary_switches_per_round_trip,
            if fewer {
                ": it slept in poll() only when no socket at all was ready."
            } else {
                ", no fewer this time: the clients kept it waiting, one socket ready at a time."
            }
        ));
        lines.push(format!(
            "Counting the times the OS preempted them too (to run another thread), the servers \
             were switched {}, {} and {} ({:.2}, {:.2} and {:.2} per round trip).",
            plural(one.server_context_switches, "time", "times"),
            plural(threads.server_context_switches, "time", "times"),
            plural(single.server_context_switches, "time", "times"),
            one.context_switches_per_round_trip,
            threads.context_switches_per_round_trip,
            single.context_switches_per_round_trip
        ));
        lines
    }

    /// Bench helper: the three servers' round trips per second for one load, and their wall times.
    pub fn round_trips_per_sec(load: Load) -> anyhow::Result<Vec<(ServerKind, f64, Duration)>> {
        let quiet = Narrator::with_mode(Mode::Json, false);
        ServerKind::ALL
            .into_iter()
            .map(|kind| {
                let run = measure(kind, load, &quiet)?;
                Ok((
                    kind,
                    run.round_trips_per_sec,
                    Duration::from_secs_f64(run.wall_ms / 1e3),
                ))
            })
            .collect()
    }
}
