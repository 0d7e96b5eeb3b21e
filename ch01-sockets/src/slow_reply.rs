//! Section 1.6: a tiny local TCP server that answers one client after a delay.
//!
//! It stands in for "a server on the internet that takes a while": the client connects, and the
//! reply arrives only `delay` later. Waiting for that reply is what sections 1.6's demos do in
//! three ways (blocking, busy polling, readiness).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::{SpanKind, SpanRecorder};

/// What the server sends after the delay.
pub const REPLY: &[u8] = b"here is your data, sorry for the wait\n";

/// If nobody connects within this time, the server gives up (no thread waits for ever).
const ACCEPT_DEADLINE: Duration = Duration::from_secs(30);

/// Row label of the server in timelines.
pub const SERVER_ROW: &str = "server: late reply";

/// A one-shot server on 127.0.0.1 with an ephemeral port, on its own thread.
#[derive(Debug)]
pub struct SlowReply {
    addr: SocketAddr,
}

impl SlowReply {
    /// Starts the server: it accepts one connection, waits `delay`, sends [`REPLY`] and closes.
    pub fn start(delay: Duration, recorder: Arc<SpanRecorder>) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        // Non-blocking accept with a deadline, so that the thread ends even if no client comes.
        listener.set_nonblocking(true)?;
        std::thread::Builder::new()
            .name("slow-reply-server".into())
            .spawn(move || serve_once(&listener, delay, &recorder))?;
        Ok(Self { addr })
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connects a (blocking) client.
    pub fn connect(&self) -> io::Result<TcpStream> {
        TcpStream::connect(self.addr)
    }
}

fn serve_once(listener: &TcpListener, delay: Duration, recorder: &SpanRecorder) {
    let deadline = Instant::now() + ACCEPT_DEADLINE;
    let mut stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return,
        }
    };
    let accepted = Instant::now();
    std::thread::sleep(delay);
    let slept = Instant::now();
    recorder.record(SERVER_ROW, SpanKind::Idle, accepted, slept);
    if stream.set_nonblocking(false).is_ok() && stream.write_all(REPLY).is_ok() {
        recorder.record(SERVER_ROW, SpanKind::Cpu, slept, Instant::now());
    }
}

/// Reads with a blocking socket until the whole [`REPLY`] arrived or the server closed.
pub fn read_reply_blocking(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 256];
    while reply.len() < REPLY.len() {
        // Blocking: this call returns only when bytes arrived (or the connection ended).
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(reply)
}
