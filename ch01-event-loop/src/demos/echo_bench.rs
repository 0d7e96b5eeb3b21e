//! Section 1.7, demo `echo-bench`: the same loopback echo server on the hand-built loop and on
//! tokio's current-thread runtime, driven by the same load client (C connections, each doing R
//! round trips of 64 bytes). A simple loop has little to do per event, so it should keep up.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use shared::fdlimit;
use shared::legacy::report::{DemoReport, Measurement};
use shared::legacy::{Narrator, SpanKind, SpanRecorder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::Sizes;
use crate::event_loop::{EventLoop, Stats, TcpListener, TcpStream, spawn};

/// The demo's name in `--help` and `--json`.
pub const NAME: &str = "echo-bench";
/// Bytes per message.
pub const MESSAGE_LEN: usize = 64;
/// Each server runs this many times, alternating, and keeps its best: other programs share the
/// machine's cores, and a single unlucky run should not decide the comparison.
const ROUNDS: usize = 2;

/// One server's result: how long the client needed for all its round trips.
#[derive(Debug, Clone, Copy)]
pub struct EchoRun {
    /// From the first message sent to the last echo received, measured by the client.
    pub wall: Duration,
    /// The hand-built loop's counters (zero for tokio).
    pub stats: Stats,
}

/// Runs the demo and prints its report.
pub fn run(narrator: &Narrator, sizes: &Sizes) -> anyhow::Result<()> {
    let (connections, round_trips) = (sizes.connections, sizes.round_trips);
    let total = connections * round_trips;
    narrator.header(
        "1.7",
        "How an event loop works: measured against tokio",
        &format!(
            "An echo server on the hand-built loop vs on tokio's current-thread runtime: \
             {connections} connections x {round_trips} round trips of {MESSAGE_LEN} bytes each. \
             Same client, same OS calls; the loop that does less per event wins."
        ),
    );
    fdlimit::ensure_available(
        2 * connections + 64,
        &format!("{connections} echo connections"),
    )?;
    let recorder = SpanRecorder::new();
    let mut best_hand: Option<EchoRun> = None;
    let mut best_tokio: Option<Duration> = None;
    for round in 1..=ROUNDS {
        let progress = narrator.progress(format!("round {round}: hand-built server"), None);
        let started = Instant::now();
        let run = hand_built(connections, round_trips, sizes.trace && round == 1)?;
        recorder.record("hand_built server", SpanKind::Cpu, started, Instant::now());
        drop(progress);
        narrator.say(format!(
            "round {round}: hand-built {:>9.0} round trips/s",
            per_second(total, run.wall)
        ));
        if best_hand.is_none_or(|best| run.wall < best.wall) {
            best_hand = Some(run);
        }
        let progress = narrator.progress(format!("round {round}: tokio server"), None);
        let started = Instant::now();
        let wall = with_tokio(connections, round_trips)?;
        recorder.record("tokio server", SpanKind::Cpu, started, Instant::now());
        drop(progress);
        narrator.say(format!(
            "round {round}: tokio      {:>9.0} round trips/s",
            per_second(total, wall)
        ));
        if best_tokio.is_none_or(|best| wall < best) {
            best_tokio = Some(wall);
        }
    }
    let (Some(hand), Some(tokio)) = (best_hand, best_tokio) else {
        bail!("no echo round was run");
    };
    let mut report = DemoReport::new(NAME, "1.7");
    report.push(
        Measurement::new("hand_built", hand.wall)
            .field("round_trips_per_s", per_second(total, hand.wall))
            .field("round_trips", total as f64)
            .field("iterations", hand.stats.iterations as f64)
            .field("polls", hand.stats.polls as f64),
    );
    report.push(
        Measurement::new("tokio", tokio)
            .field("round_trips_per_s", per_second(total, tokio))
            .field("round_trips", total as f64),
    );
    narrator.report(&report, Some("tokio"));
    narrator.timeline(
        "the servers ran in turn, best of each kept",
        &recorder.spans(),
    );
    let ratio = tokio.as_secs_f64() / hand.wall.as_secs_f64();
    narrator.summary(
        "1.7",
        &[
            &format!(
                "hand-built / tokio = {ratio:.2}x round trips per second (goal: at least 0.9x; \
                 best of {ROUNDS} runs each, the machine's cores are shared)."
            ),
            &format!(
                "The hand-built loop made {} iterations for {total} round trips: each iteration \
                 polled every connection whose socket the OS reported readable.",
                hand.stats.iterations
            ),
            "Both loops do the same work per event: epoll_wait, read, write. Speed comes from \
             doing nothing else.",
        ],
    );
    Ok(())
}

fn per_second(round_trips: u64, wall: Duration) -> f64 {
    round_trips as f64 / wall.as_secs_f64().max(1e-9)
}

/// The echo server on the hand-built loop, with the load client on its own thread.
pub fn hand_built(connections: u64, round_trips: u64, trace: bool) -> anyhow::Result<EchoRun> {
    let event_loop = EventLoop::new()?.print_trace(trace);
    let wall = event_loop.block_on(async {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let (done, finished) = futures::channel::oneshot::channel();
        // The client's thread wakes this loop (through the channel's waker) when it is done.
        let client = std::thread::Builder::new()
            .name("echo-client".into())
            .spawn(move || {
                let _ = done.send(load_client(addr, connections, round_trips));
            })?;
        spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                spawn(echo(connection));
            }
        });
        let result = finished.await.context("the echo client thread died");
        let _ = client.join();
        result?
    })?;
    Ok(EchoRun {
        wall,
        stats: event_loop.stats(),
    })
}

/// Echoes every byte back until the client hangs up.
async fn echo(connection: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match connection.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if connection.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The same echo server on tokio's current-thread runtime, with the same load client.
pub fn with_tokio(connections: u64, round_trips: u64) -> anyhow::Result<Duration> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start a tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let (done, finished) = tokio::sync::oneshot::channel();
        let client = std::thread::Builder::new()
            .name("echo-client".into())
            .spawn(move || {
                let _ = done.send(load_client(addr, connections, round_trips));
            })?;
        tokio::spawn(async move {
            while let Ok((mut connection, _)) = listener.accept().await {
                let _ = connection.set_nodelay(true);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    loop {
                        match connection.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if connection.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        let result = finished.await.context("the echo client thread died");
        let _ = client.join();
        result?
    })
}

/// The load client both servers face: its own thread and tokio runtime, `connections` sockets,
/// each sending `round_trips` messages and checking every echo. Returns the time from the first
/// message to the last echo (connecting is not counted).
pub fn load_client(
    addr: SocketAddr,
    connections: u64,
    round_trips: u64,
) -> anyhow::Result<Duration> {
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
                let message = [i as u8; MESSAGE_LEN];
                let mut echoed = [0u8; MESSAGE_LEN];
                for _ in 0..round_trips {
                    socket.write_all(&message).await?;
                    socket.read_exact(&mut echoed).await?;
                    if echoed != message {
                        bail!("the echo server sent back different bytes");
                    }
                }
                anyhow::Ok(())
            });
        }
        for result in clients.join_all().await {
            result?;
        }
        Ok(started.elapsed())
    })
}
