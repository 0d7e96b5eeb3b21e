//! Section 1.7, demo `echo-bench`: the same loopback echo server on the hand-built loop and on
//! tokio's current-thread runtime, driven by the same load client (C connections, each doing R
//! round trips of 64 bytes). A simple loop has little to do per event, so it should keep up.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::event_loop::TcpStream;

// ---- the lesson: one echo connection, on the hand-built loop and on tokio ----

/// Echoes every byte back until the client hangs up; counts the bytes in `echoed`. The loop
/// is the one of `event_loop/`, the socket its `TcpStream`, as `ch01-sockets` wrote it by hand.
async fn echo(connection: TcpStream, echoed: Rc<Cell<u64>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = connection.read(&mut buf).await {
        if connection.write_all(&buf[..n]).await.is_err() {
            return;
        }
        echoed.set(echoed.get() + n as u64);
    }
}

/// The same on tokio: its socket takes `&mut self`, and `tokio::spawn` wants tasks that could
/// move between threads (`Send`), so the count is atomic. Line for line, the same loop.
async fn tokio_echo(mut connection: tokio::net::TcpStream, echoed: Arc<AtomicU64>) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = connection.read(&mut buf).await {
        if connection.write_all(&buf[..n]).await.is_err() {
            return;
        }
        echoed.fetch_add(n as u64, Ordering::Relaxed);
    }
}

// ---- measuring it ----

pub use measuring::{
    ClientRun, EchoRun, MESSAGE_LEN, NAME, ROUNDS, Watch, hand_built, load_client, run, with_tokio,
};

mod measuring {
    use std::cell::Cell;
    use std::net::SocketAddr;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use anyhow::{Context as _, bail};
    use serde::Serialize;
    use shared::narrate::plural;
    use shared::timing::{ms, thread_cpu_time};
    use shared::{Narrator, Recording, Report, fdlimit};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tracing::info_span;

    use super::{echo, tokio_echo};
    use crate::cli::Sizes;
    use crate::event_loop::{EventLoop, TcpListener, spawn};
    use crate::observe::{self, Counts, LoopStats, run_queue_wait};

    /// The demo's name in `--help` and `--json`.
    pub const NAME: &str = "echo-bench";
    const SECTION: &str = "1.7";
    /// Bytes per message.
    pub const MESSAGE_LEN: usize = 64;
    /// Each server runs this many times, alternating, and the median run counts: other programs
    /// share the machine's cores, and a single unlucky run should not decide the comparison.
    pub const ROUNDS: usize = 3;

    /// What the load client saw: every echo is checked byte for byte before it counts.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct ClientRun {
        /// From the first message sent to the last echo received.
        pub wall: Duration,
        /// Round trips whose echo came back identical.
        pub round_trips: u64,
        /// Bytes the client got back and checked.
        pub bytes_checked: u64,
    }

    /// One server's run.
    #[derive(Debug, Clone)]
    pub struct EchoRun {
        /// What the client measured.
        pub client: ClientRun,
        /// Bytes the server wrote back.
        pub server_echoed: u64,
        /// CPU time of the server's thread (the loop) during the run.
        pub server_cpu: Duration,
        /// Time the server's thread was ready to run but waited for a CPU (Linux; zero
        /// elsewhere).
        pub server_cpu_wait: Duration,
        /// The stretch over which the server's CPU time and wait were measured (the client's
        /// connecting included).
        pub server_window: Duration,
        /// The hand-built loop's counters (zero for tokio).
        pub stats: Counts,
    }

    impl EchoRun {
        fn cpu_us_per_round_trip(&self) -> f64 {
            self.server_cpu.as_secs_f64() * 1e6 / self.client.round_trips.max(1) as f64
        }

        fn per_second(&self) -> f64 {
            self.client.round_trips as f64 / self.client.wall.as_secs_f64().max(1e-9)
        }

        /// CPU-seconds per second of the server's thread.
        fn cpu_per_second(&self) -> f64 {
            let wall = self.server_window.as_secs_f64();
            shared::timing::ratio(self.server_cpu.as_secs_f64(), wall)
        }

        /// The share of the run the server's thread was ready but waited for a CPU.
        fn cpu_wait_share(&self) -> f64 {
            let wall = self.server_window.as_secs_f64();
            shared::timing::ratio(self.server_cpu_wait.as_secs_f64(), wall)
        }

        fn had_a_core(&self) -> bool {
            self.cpu_wait_share() < BUSY_WAIT_SHARE
        }

        fn measured(&self, name: &'static str) -> Measured {
            let hand_built = name == "hand_built";
            Measured {
                name,
                wall_ms: ms(self.client.wall),
                cpu_ms: ms(self.server_cpu),
                round_trips_per_s: self.per_second(),
                round_trips: self.client.round_trips,
                bytes_echoed: self.server_echoed,
                server_cpu_us_per_round_trip: self.cpu_us_per_round_trip(),
                iterations: hand_built.then_some(self.stats.iterations),
                polls: hand_built.then_some(self.stats.polls),
                server_cpu_per_s: self.cpu_per_second(),
                server_cpu_wait_share: self.cpu_wait_share(),
                idle_core: self.had_a_core(),
            }
        }
    }

    /// A server that spent this share of its run ready but waiting for a CPU did not have a
    /// core to itself: other programs were using them.
    const BUSY_WAIT_SHARE: f64 = 0.1;

    /// One server's median run as the report and `--json` show it.
    #[derive(Debug, Serialize)]
    struct Measured {
        name: &'static str,
        wall_ms: f64,
        /// The server thread's CPU time.
        cpu_ms: f64,
        round_trips_per_s: f64,
        round_trips: u64,
        bytes_echoed: u64,
        server_cpu_us_per_round_trip: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        iterations: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        polls: Option<u64>,
        /// CPU-seconds per second of the server's thread.
        server_cpu_per_s: f64,
        /// The share of the run the server's thread was ready but waited for a CPU.
        server_cpu_wait_share: f64,
        /// Whether the server had (nearly) a core to itself.
        idle_core: bool,
    }

    /// Runs the demo and prints its report.
    pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
        let (connections, round_trips) = (sizes.connections, sizes.round_trips);
        narrator.header(
            SECTION,
            "How an event loop works: measured against tokio",
            &format!(
                "An echo server on the hand-built loop vs on tokio's current-thread runtime: \
                 {} x {} of {MESSAGE_LEN} bytes each. Same client, same OS calls; the loop that \
                 does less per event wins.",
                plural(connections, "connection", "connections"),
                plural(round_trips, "round trip", "round trips")
            ),
        );
        fdlimit::ensure_available(
            2 * connections + 64,
            &plural(connections, "echo connection", "echo connections"),
        )?;
        // Each run is a span on the server's thread (`hand-built server`, `tokio server`).
        let recording = Recording::start();
        let (mut hand_runs, mut tokio_runs) = (Vec::new(), Vec::new());
        for round in 1..=ROUNDS {
            for hand_built_server in [true, false] {
                let name = if hand_built_server {
                    "hand-built"
                } else {
                    "tokio"
                };
                let what = format!("round {round}: {name} server");
                let progress = narrator.progress(&recording, &what, "", None);
                let run = if hand_built_server {
                    let watch = match sizes.trace && round == 1 {
                        true => Watch::CountsAndTrace,
                        false => Watch::Counts,
                    };
                    hand_built(connections, round_trips, watch)?
                } else {
                    with_tokio(connections, round_trips)?
                };
                drop(progress);
                narrator.say(format!(
                    "round {round}: {name:<10} {:>9.0} round trips/s, {:.2} us of server CPU each",
                    run.per_second(),
                    run.cpu_us_per_round_trip()
                ));
                let runs = if hand_built_server {
                    &mut hand_runs
                } else {
                    &mut tokio_runs
                };
                runs.push(run);
            }
        }
        let spans = recording.finish();
        let (hand, tokio) = (median(hand_runs)?, median(tokio_runs)?);
        narrator.report(&Report::new(
            NAME,
            SECTION,
            vec![hand.measured("hand_built"), tokio.measured("tokio")],
        ));
        narrator.timeline(
            "the servers ran in turn, each on its own loop's thread",
            &spans,
        );
        narrator.summary(
            SECTION,
            &[
                format!(
                    "hand-built / tokio: {:.2}x the round trips per second, {:.2}x the server CPU per \
                     round trip (median of {ROUNDS} alternating rounds; the machine's cores are shared).",
                    hand.per_second() / tokio.per_second(),
                    hand.cpu_us_per_round_trip() / tokio.cpu_us_per_round_trip()
                ),
                format!(
                    "The hand-built loop made {} for {}: each iteration polled every connection \
                     whose socket the OS reported readable.",
                    plural(hand.stats.iterations, "iteration", "iterations"),
                    plural(hand.client.round_trips, "round trip", "round trips")
                ),
                "Both loops do the same work per event: epoll_wait, read, write. Speed comes from \
                 doing nothing else."
                    .into(),
                cores_line(&hand, &tokio),
            ],
        );
        Ok(())
    }

    /// Whether both servers had a core, measured, and so whether their rates compare the loops.
    fn cores_line(hand: &EchoRun, tokio: &EchoRun) -> String {
        let waits = format!(
            "{:.0}% and {:.0}% of their runs",
            hand.cpu_wait_share() * 100.0,
            tokio.cpu_wait_share() * 100.0
        );
        match hand.had_a_core() && tokio.had_a_core() {
            true => format!(
                "The servers' threads waited for a CPU {waits}: each had a core to work on, so \
                 the rates compare the loops."
            ),
            false => format!(
                "The servers' threads waited for a CPU {waits}: other programs were busy on \
                 the cores, so the round-trip rates measure the OS's scheduling as much as the \
                 loops; the CPU per round trip compares the loops better."
            ),
        }
    }

    /// The run with the median wall time.
    fn median(mut runs: Vec<EchoRun>) -> anyhow::Result<EchoRun> {
        runs.sort_by_key(|run| run.client.wall);
        let middle = runs.len() / 2;
        runs.into_iter()
            .nth(middle)
            .context("no echo round was run")
    }

    /// What watches the hand-built loop during a run.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Watch {
        /// Nothing: each of the loop's events costs one check at its call site (the bench).
        Nothing,
        /// The counters the report shows (one `tracing` event per iteration).
        Counts,
        /// The counters, and `--trace` lines on standard error.
        CountsAndTrace,
    }

    /// The echo server on the hand-built loop, with the load client on its own thread.
    pub fn hand_built(connections: u64, round_trips: u64, watch: Watch) -> anyhow::Result<EchoRun> {
        let (stats, _watching) = match watch {
            Watch::Nothing => (LoopStats::default(), None),
            _ => {
                let (stats, guard) = observe::watch(watch == Watch::CountsAndTrace);
                (stats, Some(guard))
            }
        };
        let event_loop = EventLoop::new()?;
        let echoed = Rc::new(Cell::new(0));
        let (cpu_before, wait_before) = (thread_cpu_time(), run_queue_wait());
        let window = Instant::now();
        // Opened after `watch`, under the subscriber the loop's thread has now.
        let span = info_span!("hand-built server");
        let client = span.in_scope(|| {
            event_loop.block_on(async {
                let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
                let addr = listener.local_addr()?;
                let (done, finished) = futures::channel::oneshot::channel();
                // The client's thread wakes this loop (through the channel's waker) when it is done.
                let client = std::thread::Builder::new()
                    .name("echo-client".into())
                    .spawn(move || {
                        let _ = done.send(load_client(addr, connections, round_trips));
                    })?;
                let server_echoed = Rc::clone(&echoed);
                spawn(async move {
                    while let Ok((connection, _)) = listener.accept().await {
                        spawn(echo(connection, Rc::clone(&server_echoed)));
                    }
                });
                let result = finished.await.context("the echo client thread died");
                let _ = client.join();
                result?
            })
        })?;
        drop(span);
        Ok(EchoRun {
            client,
            server_echoed: echoed.get(),
            server_cpu: thread_cpu_time().saturating_sub(cpu_before),
            server_cpu_wait: run_queue_wait().saturating_sub(wait_before),
            server_window: window.elapsed(),
            stats: stats.get(),
        })
    }

    /// The same echo server on tokio's current-thread runtime, with the same load client.
    pub fn with_tokio(connections: u64, round_trips: u64) -> anyhow::Result<EchoRun> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("could not start a tokio runtime")?;
        let echoed = Arc::new(AtomicU64::new(0));
        let (cpu_before, wait_before) = (thread_cpu_time(), run_queue_wait());
        let window = Instant::now();
        let span = info_span!("tokio server");
        let client = span.in_scope(|| {
            runtime.block_on(async {
                let listener =
                    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
                let addr = listener.local_addr()?;
                let (done, finished) = tokio::sync::oneshot::channel();
                let client = std::thread::Builder::new()
                    .name("echo-client".into())
                    .spawn(move || {
                        let _ = done.send(load_client(addr, connections, round_trips));
                    })?;
                let server_echoed = Arc::clone(&echoed);
                tokio::spawn(async move {
                    while let Ok((connection, _)) = listener.accept().await {
                        let _ = connection.set_nodelay(true);
                        tokio::spawn(tokio_echo(connection, Arc::clone(&server_echoed)));
                    }
                });
                let result = finished.await.context("the echo client thread died");
                let _ = client.join();
                result?
            })
        })?;
        Ok(EchoRun {
            client,
            server_echoed: echoed.load(Ordering::Relaxed),
            server_cpu: thread_cpu_time().saturating_sub(cpu_before),
            server_cpu_wait: run_queue_wait().saturating_sub(wait_before),
            server_window: window.elapsed(),
            stats: Counts::default(),
        })
    }

    /// The load client both servers face: its own thread and tokio runtime, `connections` sockets,
    /// each sending `round_trips` messages and checking every echo byte for byte. Connecting is not
    /// counted in the wall time.
    pub fn load_client(
        addr: SocketAddr,
        connections: u64,
        round_trips: u64,
    ) -> anyhow::Result<ClientRun> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("could not start the client's tokio runtime")?;
        runtime.block_on(async {
            let mut sockets = Vec::new();
            for _ in 0..connections {
                let socket = tokio::net::TcpStream::connect(addr)
                    .await
                    .with_context(|| format!("cannot connect to the echo server at {addr}"))?;
                socket.set_nodelay(true)?;
                sockets.push(socket);
            }
            let started = Instant::now();
            let mut clients = tokio::task::JoinSet::new();
            for (i, mut socket) in sockets.into_iter().enumerate() {
                clients.spawn(async move {
                    // Each connection and each round trip sends different bytes, so an echo sent to
                    // the wrong client, or an old one, would not match.
                    let mut message = [0u8; MESSAGE_LEN];
                    let mut echoed = [0u8; MESSAGE_LEN];
                    for trip in 0..round_trips {
                        message[..8].copy_from_slice(&(i as u64).to_le_bytes());
                        message[8..16].copy_from_slice(&trip.to_le_bytes());
                        socket.write_all(&message).await?;
                        socket.read_exact(&mut echoed).await?;
                        if echoed != message {
                            bail!("the echo server sent back different bytes");
                        }
                    }
                    anyhow::Ok(round_trips)
                });
            }
            let mut done = 0;
            for result in clients.join_all().await {
                done += result?;
            }
            Ok(ClientRun {
                wall: started.elapsed(),
                round_trips: done,
                bytes_checked: done * MESSAGE_LEN as u64,
            })
        })
    }
}
