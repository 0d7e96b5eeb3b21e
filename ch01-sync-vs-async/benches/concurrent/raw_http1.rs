//! The reference row: the least a client can do per request. One hand-written `GET` per open
//! connection and a minimal read of the answer, no reqwest, no pool, no timeouts.
//!
//! What this row still loses to D = 100 ms is what the embedded server and the kernel's loopback
//! TCP cost on the same two cores; the gap between it and the reqwest rows is the client.

use anyhow::{Context as _, bail};
use futures::future::join_all;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// N connections to the server, opened once and kept open, as a warm pool would keep them.
pub struct WarmConnections {
    streams: Vec<TcpStream>,
}

impl WarmConnections {
    /// Opens `n` connections one after another (untimed set-up, like warming a pool).
    pub async fn open(addr: SocketAddr, n: u64) -> anyhow::Result<Self> {
        let mut streams = Vec::new();
        for _ in 0..n {
            let stream = TcpStream::connect(addr)
                .await
                .with_context(|| format!("could not connect to {addr}"))?;
            // Same as reqwest: send each small request at once, no Nagle delay.
            stream.set_nodelay(true)?;
            streams.push(stream);
        }
        Ok(Self { streams })
    }

    /// `GET path` on every connection at once, each answer read in full.
    pub async fn get_on_each(&mut self, host: &str, path: &str) -> anyhow::Result<()> {
        let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n");
        let gets = self
            .streams
            .iter_mut()
            .map(|stream| get(stream, request.as_bytes()));
        for result in join_all(gets).await {
            result?;
        }
        Ok(())
    }
}

/// Writes one request and reads exactly one response (head plus `content-length` bytes), so the
/// connection is ready for the next request.
async fn get(stream: &mut TcpStream, request: &[u8]) -> anyhow::Result<()> {
    stream.write_all(request).await?;
    let mut buffer = Vec::with_capacity(512);
    loop {
        let at_eof = stream.read_buf(&mut buffer).await? == 0;
        match complete_response(&buffer, at_eof)? {
            Some(200) => return Ok(()),
            Some(status) => bail!("the server answered {status}"),
            None if at_eof => {
                bail!("the server closed the connection before the answer was complete")
            }
            None => {}
        }
    }
}

/// The status code once `buffer` holds a whole answer (head plus `content-length` bytes, or
/// everything up to EOF without one); `None` while more is to come.
fn complete_response(buffer: &[u8], at_eof: bool) -> anyhow::Result<Option<u16>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = response.parse(buffer)? else {
        return Ok(None);
    };
    let status = response.code.unwrap_or(0);
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let complete = match length {
        Some(length) => buffer.len() >= head + length,
        None => at_eof,
    };
    Ok(complete.then_some(status))
}
