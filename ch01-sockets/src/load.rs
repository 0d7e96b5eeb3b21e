//! Section 1.6: the load for the echo servers. Every client connects first, then all start
//! together and send their lines one round trip at a time. Each line names its client and its
//! number, so a byte delivered to the wrong client or out of order is caught. Each client is a
//! `client` span, from the start to the server's close.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::cli::Sizes;

/// A client gives up after waiting this long for an echo (so a broken server cannot hang a test).
const ECHO_TIMEOUT: Duration = Duration::from_secs(30);

/// The line client `client` sends as its line number `line`: unique, `line_bytes` long.
fn line_for(client: u64, line: u64, line_bytes: u64) -> Vec<u8> {
    let mut text = format!("c{client:05} l{line:06} ").into_bytes();
    let mut k = client + line;
    while text.len() as u64 + 1 < line_bytes {
        text.push(b'a' + (k % 26) as u8);
        k += 1;
    }
    text.push(b'\n');
    text
}

/// Runs the load (`--clients`, `--lines`, `--line-bytes`) against the echo server at `addr`;
/// returns the time from the first connect to the last client's end; fails on any wrong byte.
pub fn run(addr: SocketAddr, load: &Sizes) -> anyhow::Result<Duration> {
    let started = Instant::now();
    // Connect everybody first: a blocking server leaves them queued in the kernel, which is the
    // point: they are all *there*, waiting.
    let mut streams = Vec::new();
    for client in 0..load.clients {
        let stream = TcpStream::connect(addr)
            .with_context(|| format!("client {client} cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(ECHO_TIMEOUT))?;
        stream.set_write_timeout(Some(ECHO_TIMEOUT))?;
        streams.push(stream);
    }
    let start_together = &Barrier::new(load.clients as usize);
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..)
            .zip(streams)
            .map(|(client, stream)| {
                scope.spawn(move || {
                    start_together.wait();
                    tracing::info_span!("client", n = client)
                        .in_scope(|| exchange_lines(stream, client, load))
                        .with_context(|| format!("client {client}"))
                })
            })
            .collect();
        let panicked = |_| bail!("a client thread panicked");
        clients
            .into_iter()
            .try_for_each(|client| client.join().unwrap_or_else(panicked))
    })?;
    Ok(started.elapsed())
}

fn exchange_lines(mut stream: TcpStream, client: u64, load: &Sizes) -> anyhow::Result<()> {
    let mut echo = vec![0u8; load.line_bytes as usize];
    for line in 0..load.lines {
        let sent = line_for(client, line, load.line_bytes);
        stream.write_all(&sent).context("sending a line")?;
        stream
            .read_exact(&mut echo)
            .with_context(|| format!("waiting for the echo of line {line}"))?;
        let text = String::from_utf8_lossy(&echo);
        ensure!(echo == sent, "line {line} came back as {text:?}");
    }
    // Half-close: "no more lines". The server must answer with its own close, and nothing else.
    stream
        .shutdown(Shutdown::Write)
        .context("closing the sending side")?;
    let rest = stream.read_to_end(&mut Vec::new());
    let rest = rest.context("waiting for the server to close")?;
    ensure!(rest == 0, "{rest} unexpected bytes after the last echo");
    Ok(())
}
