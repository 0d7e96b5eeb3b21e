//! Section 1.7, demo `echo-bench`: the same loopback echo server on the hand-built loop and on
//! tokio's current-thread runtime, driven by the same load client (C connections, each doing R
//! round trips of 64 bytes). A simple loop has little to do per event, so it should keep up.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use shared::narrate::plural;
use shared::report::as_ms;
use shared::timing::{ms, ratio};
use shared::{Narrator, Span, fdlimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::info_span;

use super::{BUSY_WAIT_SHARE, SECTION, VsTokio, offload::off_thread, tokio_runtime};
use crate::cli::Sizes;
use crate::event_loop::{EventLoop, TcpListener, spawn};
use crate::observe::{self, Counts, schedstat};

// ---- the lesson: the echo server, on the hand-built loop and on tokio ----

/// Accepts clients forever, one task each; `echoed` counts the bytes sent back. The loop is the
/// one of `event_loop/`, the sockets its own, as `ch01-sockets` wrote them by hand.
async fn hand_built_server(listener: TcpListener, echoed: Rc<Cell<u64>>) {
    while let Ok((connection, _)) = listener.accept().await {
        let echoed = Rc::clone(&echoed);
        spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = connection.read(&mut buf).await {
                if connection.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                echoed.set(echoed.get() + n as u64);
            }
        });
    }
}

/// The same on tokio: its sockets take `&mut self`, and `tokio::spawn` wants tasks that could
/// move between threads (`Send`), so the count is atomic. Line for line, the same server.
async fn tokio_server(listener: tokio::net::TcpListener, echoed: Arc<AtomicU64>) {
    while let Ok((mut connection, _)) = listener.accept().await {
        let echoed = Arc::clone(&echoed);
        let _ = connection.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = connection.read(&mut buf).await {
                if connection.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                echoed.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
    }
}

// ---- measuring it ----

/// asyncio's own loop serving the same (`echo_bench.py`): `asyncio.start_server`.
const ASYNCIO: shared::python::Script =
    shared::python::Script::new("echo_bench.py", include_str!("echo_bench.py"));

/// Bytes per message.
pub const MESSAGE_LEN: usize = 64;
/// Each server runs this many times, alternating, and the median run counts: other programs
/// share the machine's cores, and a single unlucky run should not decide the comparison.
pub const ROUNDS: usize = 3;
const LOCALHOST: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

/// One server's run, measured on its thread (the client's connecting included), as the report
/// and `--json` show it.
#[derive(Debug, Clone, Serialize)]
pub struct EchoRun {
    /// `hand_built`, `tokio` or `asyncio`.
    pub name: &'static str,
    /// The load client's time from the first message sent to the last echo received.
    #[serde(rename = "wall_ms", serialize_with = "as_ms")]
    pub wall: Duration,
    /// Round trips whose echo the client checked came back identical, byte for byte.
    pub round_trips: u64,
    /// Bytes the server wrote back.
    pub bytes_echoed: u64,
    /// CPU time of the server's thread.
    #[serde(rename = "cpu_ms", serialize_with = "as_ms")]
    pub server_cpu: Duration,
    /// Round trips per second.
    pub round_trips_per_s: f64,
    /// The server's CPU time per round trip, in microseconds.
    pub server_cpu_us_per_round_trip: f64,
    /// The server thread's CPU time per second of its run.
    pub server_cpu_per_s: f64,
    /// The share of its run the server's thread was ready but waited for a CPU.
    pub server_cpu_wait_share: f64,
    /// Whether that share stayed below `BUSY_WAIT_SHARE`: the server had a core.
    pub idle_core: bool,
    /// The hand-built loop's counters (`None` for the others).
    #[serde(flatten)]
    pub stats: Option<Counts>,
}

/// Each server's median run (asyncio's: its one run).
pub type EchoBench = VsTokio<EchoRun>;

/// Both servers, `ROUNDS` times alternating, the median run of each; then asyncio's once.
/// `--trace` follows the hand-built loop's first round.
pub fn measure(sizes: &Sizes) -> anyhow::Result<EchoBench> {
    let what = plural(sizes.connections, "echo connection", "echo connections");
    fdlimit::ensure_available(2 * sizes.connections + 64, &what)?;
    let (mut hand_runs, mut tokio_runs) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let trace = sizes.trace && round == 0;
        hand_runs.push(hand_built(sizes, trace, hand_built_server)?);
        tokio_runs.push(with_tokio(sizes)?);
    }
    let asyncio = shared::narrate::python().map(|python| with_asyncio(&python, sizes));
    // The run with the median wall time.
    let median = |mut runs: Vec<EchoRun>| {
        runs.sort_by_key(|run| run.wall);
        runs.swap_remove(runs.len() / 2)
    };
    let (hand_built, tokio) = (median(hand_runs), median(tokio_runs));
    Ok(VsTokio::new(hand_built, tokio, asyncio.transpose()?))
}

/// Runs the demo and prints its report.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    narrator.header(
        SECTION,
        "How an event loop works: measured against tokio",
        &format!(
            "An echo server on the hand-built loop vs on tokio's current-thread runtime: \
             {} x {} of {MESSAGE_LEN} bytes each. Same client, same OS calls; the loop that \
             does less per event wins.",
            plural(sizes.connections, "connection", "connections"),
            plural(sizes.round_trips, "round trip", "round trips")
        ),
    );
    let what = format!("{ROUNDS} alternating rounds of each server");
    let (measured, spans) = shared::narrate::record(&what, "", None, || measure(sizes));
    let measured = measured?;
    let title = "the servers ran in turn, each on its own loop's thread";
    measured.report(narrator, "echo-bench", (title, spans));
    let (hand_built, tokio) = (&measured.hand_built, &measured.tokio);
    let cores = match hand_built.idle_core && tokio.idle_core {
        true => "each had a core to work on, so the rates compare the loops",
        false => {
            "other programs were busy on the cores, so the round-trip rates measure the OS's \
             scheduling as much as the loops; the CPU per round trip compares the loops better"
        }
    };
    let iterations = hand_built.stats.as_ref().map_or(0, |s| s.iterations);
    let mut summary = vec![
        format!(
            "hand-built / tokio: {:.2}x the round trips per second, {:.2}x the server CPU per \
             round trip (median of {ROUNDS} alternating rounds; the machine's cores are shared).",
            hand_built.round_trips_per_s / tokio.round_trips_per_s,
            hand_built.server_cpu_us_per_round_trip / tokio.server_cpu_us_per_round_trip
        ),
        format!(
            "The hand-built loop made {} for {}: each iteration polled every connection whose \
             socket the OS reported readable.",
            plural(iterations, "iteration", "iterations"),
            plural(hand_built.round_trips, "round trip", "round trips")
        ),
        format!(
            "The servers' threads waited for a CPU {:.0}% and {:.0}% of their runs: {cores}.",
            hand_built.server_cpu_wait_share * 100.0,
            tokio.server_cpu_wait_share * 100.0
        ),
    ];
    summary.extend(measured.asyncio.as_ref().map(|asyncio| {
        format!(
            "asyncio's start_server under the same client: {:.0} round trips per second, \
             {:.2}x the hand-built loop's server CPU per round trip: the same epoll \
             underneath, with the interpreter's work for each event on top.",
            asyncio.round_trips_per_s,
            asyncio.server_cpu_us_per_round_trip / hand_built.server_cpu_us_per_round_trip
        )
    }));
    narrator.summary(SECTION, &summary);
    Ok(())
}

/// Runs `serve` (one server's whole run: the client's wall time and round trips, the bytes
/// echoed) inside `span`, and measures `thread`'s CPU time
/// and its wait for a CPU meanwhile, from the kernel's scheduler statistics; `name`: its row.
fn server_run(
    name: &'static str,
    thread: &str,
    span: tracing::Span,
    serve: impl FnOnce() -> anyhow::Result<(Duration, u64, u64)>,
) -> anyhow::Result<EchoRun> {
    let ((cpu, wait), window) = (schedstat(thread), Instant::now());
    let (wall, round_trips, bytes_echoed) = span.in_scope(serve)?;
    let ((cpu_after, wait_after), window) = (schedstat(thread), window.elapsed());
    let server_cpu = cpu_after.saturating_sub(cpu);
    let share = |of: Duration| ratio(of.as_secs_f64(), window.as_secs_f64());
    let server_cpu_wait_share = share(wait_after.saturating_sub(wait));
    Ok(EchoRun {
        name,
        wall,
        round_trips,
        bytes_echoed,
        server_cpu,
        round_trips_per_s: round_trips as f64 / wall.as_secs_f64().max(1e-9),
        server_cpu_us_per_round_trip: ms(server_cpu) * 1e3 / round_trips.max(1) as f64,
        server_cpu_per_s: share(server_cpu),
        server_cpu_wait_share,
        idle_core: server_cpu_wait_share < BUSY_WAIT_SHARE,
        stats: None,
    })
}

/// A hand-built `server` (the benchmark passes `serve`'s) against the load client (on its own
/// thread), on a fresh loop.
pub fn hand_built<F: Future<Output = ()> + 'static>(
    sizes: &Sizes,
    trace: bool,
    server: impl FnOnce(TcpListener, Rc<Cell<u64>>) -> F,
) -> anyhow::Result<EchoRun> {
    let event_loop = EventLoop::new()?;
    let echoed = Rc::new(Cell::new(0));
    let (run, stats) = observe::counted(trace, || {
        let span = info_span!("hand-built server");
        server_run("hand_built", "thread-self", span, || {
            let (wall, trips) = event_loop.block_on(async {
                let listener = TcpListener::bind(SocketAddr::from(LOCALHOST))?;
                let client = client_thread(listener.local_addr()?, sizes);
                spawn(server(listener, Rc::clone(&echoed)));
                client.await
            })?;
            Ok((wall, trips, echoed.get()))
        })
    });
    let mut run = run?;
    run.stats = Some(stats);
    Ok(run)
}

/// The tokio server against the same client, on a fresh current-thread runtime.
pub fn with_tokio(sizes: &Sizes) -> anyhow::Result<EchoRun> {
    let runtime = tokio_runtime()?;
    let echoed = Arc::new(AtomicU64::new(0));
    server_run("tokio", "thread-self", info_span!("tokio server"), || {
        let (wall, trips) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(SocketAddr::from(LOCALHOST)).await?;
            let client = client_thread(listener.local_addr()?, sizes);
            tokio::spawn(tokio_server(listener, Arc::clone(&echoed)));
            client.await
        })?;
        Ok((wall, trips, echoed.load(Ordering::Relaxed)))
    })
}

/// asyncio's server in a Python process against the same client (on this thread): its
/// main thread's CPU time and wait for a CPU.
fn with_asyncio(
    python: &shared::python::Python,
    sizes: &Sizes,
) -> anyhow::Result<(EchoRun, Vec<Span>)> {
    let mut server = python.spawn(&ASYNCIO, &[])?;
    let addr: SocketAddr = server.read_line()?.parse().context("asyncio's address")?;
    let (pid, span) = (server.pid().to_string(), tracing::Span::none());
    let load = || load_client(addr, sizes).map(|(wall, trips)| (wall, trips, 0));
    let mut run = server_run("asyncio", &pid, span, load)?;
    // It answers `{"bytes_echoed": N}` when its standard input closes.
    let finished = server.wait::<serde_json::Value>()?;
    let echoed = finished.result["bytes_echoed"].as_u64();
    run.bytes_echoed = echoed.context("asyncio's answer has no bytes_echoed")?;
    Ok((run, finished.spans))
}

/// Starts the load client on its own thread; its result wakes the server's loop (through
/// the channel's waker, whichever runtime awaits it).
fn client_thread(
    addr: SocketAddr,
    sizes: &Sizes,
) -> impl Future<Output = anyhow::Result<(Duration, u64)>> + use<> {
    let sizes = sizes.clone();
    let client = off_thread("echo-client", move || load_client(addr, &sizes));
    async move { client.await? }
}

/// The load client: its own tokio runtime, `connections` sockets, each sending `round_trips`
/// messages and checking every echo byte for byte. Returns its wall time (connecting not
/// counted) and the round trips done.
fn load_client(addr: SocketAddr, sizes: &Sizes) -> anyhow::Result<(Duration, u64)> {
    let round_trips = sizes.round_trips;
    tokio_runtime()?.block_on(async {
        let mut sockets = Vec::new();
        for _ in 0..sizes.connections {
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
                // Each connection and each round trip sends different bytes, so an echo sent
                // to the wrong client, or an old one, would not match.
                let (mut message, mut echoed) = ([0u8; MESSAGE_LEN], [0u8; MESSAGE_LEN]);
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
        let done: anyhow::Result<u64> = clients.join_all().await.into_iter().sum();
        Ok((started.elapsed(), done?))
    })
}
