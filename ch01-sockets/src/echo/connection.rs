//! Section 1.6: one client of the single-threaded non-blocking echo server.
//!
//! With a non-blocking socket every `read` and `write` does only what is possible *right now*:
//! a write may take part of the bytes, a read may return a few bytes or `WouldBlock`. So each
//! connection keeps the bytes it has read but not yet written back (its output buffer) and picks
//! up where it left off when the OS says the socket is ready again.
//!
//! Three rules keep it correct:
//! - mio reports readiness *edges* (epoll with `EPOLLET`): after an event we must read or write
//!   until `WouldBlock`, or we will not hear about that socket again.
//! - Back-pressure: when a client sends faster than it reads, its output buffer would grow without
//!   limit. Above [`MAX_PENDING`] bytes we stop reading from it (its own TCP window then slows it
//!   down) and resume once the buffer has drained.
//! - A client that shuts down its sending side (EOF) still gets every echoed byte before we close.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::Interest;
use mio::net::TcpStream;

use super::stats::EchoStats;

/// The most output one connection may hold before the server stops reading from it.
// mutants: `256 + 1024` is equivalent: any positive bound keeps every byte in order, and the
// tests read the bound from here.
pub const MAX_PENDING: usize = 256 * 1024;

/// How much one `read` call asks for.
// mutants: `16 + 1024` is equivalent: smaller reads only take more calls.
const READ_CHUNK: usize = 16 * 1024;

/// Reads per turn before the connection lets the others have the thread (fairness).
const READS_PER_TURN: usize = 16;

/// What the selector should do with a connection after a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Everything possible was done; wait for the next readiness event.
    WaitForEvents,
    /// There may be more to read, but this connection had its share: give it another turn soon.
    AnotherTurn,
    /// The client finished and got all its bytes back: close the connection.
    Finished,
}

/// One client's socket and its output buffer.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    /// Entered for each turn, so the recorded span shows when the thread worked for this client.
    span: tracing::Span,
    /// Bytes read from the client; `pending[written..]` still has to go back.
    pending: Vec<u8>,
    written: usize,
    /// The client shut down its sending side (we read EOF).
    peer_done_writing: bool,
    /// Reading is paused because the output buffer is over [`MAX_PENDING`].
    paused: bool,
    /// The interest currently registered with the poller.
    registered: Interest,
}

impl Connection {
    /// A freshly accepted connection, registered for [`Interest::READABLE`]; `span` is entered
    /// at each turn and closes when the connection is dropped.
    pub fn new(stream: TcpStream, span: tracing::Span) -> Self {
        Self {
            stream,
            span,
            pending: Vec::new(),
            written: 0,
            peer_done_writing: false,
            paused: false,
            registered: Interest::READABLE,
        }
    }

    /// The socket, to (re)register it with the poller.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The interest registered with the poller now.
    pub fn registered(&self) -> Interest {
        self.registered
    }

    /// Remembers what was registered.
    // mutants: an empty body is equivalent in what clients see: the selector then re-registers
    // more often than needed, and may leave WRITABLE registered, which only wakes it for nothing.
    pub fn set_registered(&mut self, interest: Interest) {
        self.registered = interest;
    }

    /// Bytes waiting to be written back.
    pub fn pending_len(&self) -> usize {
        self.pending.len() - self.written
    }

    /// What we want to hear about: readable while we accept more input, writable only while
    /// output is pending (a writable-interest on an idle socket would wake us for nothing).
    // mutants: `||` for `&&` and `>=` for `>` are equivalent in what clients see: they only ask
    // for events the turn then does nothing with (readable while paused, writable while idle).
    pub fn wanted_interest(&self) -> Interest {
        let reading = !self.peer_done_writing && !self.paused;
        match (reading, self.pending_len() > 0) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (true, false) => Interest::READABLE,
            // Not reading means paused (so output is pending) or EOF with output still pending.
            (false, _) => Interest::WRITABLE,
        }
    }

    /// Does all the work the socket allows without blocking: write pending output, then read
    /// (and echo) until `WouldBlock`, EOF, the back-pressure bound, or the end of this turn.
    /// An error means the connection is broken (reset, broken pipe): drop it.
    pub fn take_turn(&mut self, stats: &EchoStats) -> io::Result<Turn> {
        let span = self.span.clone();
        let _inside = span.enter();
        let mut reads = 0;
        loop {
            self.write_pending(stats)?;
            if self.peer_done_writing {
                if self.pending_len() == 0 {
                    // Everything echoed: tell the client we are done too. Errors do not matter
                    // any more, the connection is closed right after.
                    let _ = self.stream.shutdown(Shutdown::Write);
                    return Ok(Turn::Finished);
                }
                return Ok(Turn::WaitForEvents);
            }
            if self.pending_len() >= MAX_PENDING {
                if !self.paused {
                    self.paused = true;
                    stats.read_paused();
                }
                return Ok(Turn::WaitForEvents);
            }
            // Below the bound again: reading resumes. Data that arrived while we were paused gave
            // no new edge, which is why we read now instead of waiting for an event.
            self.paused = false;
            if reads == READS_PER_TURN {
                return Ok(Turn::AnotherTurn);
            }
            reads += 1;
            if !self.read_some(stats)? {
                return Ok(Turn::WaitForEvents);
            }
        }
    }

    /// One read into the output buffer. `Ok(false)` when the socket has nothing more for now.
    fn read_some(&mut self, stats: &EchoStats) -> io::Result<bool> {
        let mut chunk = [0u8; READ_CHUNK];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.peer_done_writing = true;
                Ok(true)
            }
            Ok(n) => {
                self.pending.extend_from_slice(&chunk[..n]);
                stats.buffered(self.pending_len());
                Ok(true)
            }
            // A non-blocking read never waits, so no signal can interrupt it (no EINTR).
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes as much pending output as the socket takes; a partial write keeps the rest.
    fn write_pending(&mut self, stats: &EchoStats) -> io::Result<()> {
        while self.pending_len() > 0 {
            match self.stream.write(&self.pending[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    stats.echoed(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.written == self.pending.len() {
            self.pending.clear();
            self.written = 0;
        } else if self.written >= MAX_PENDING / 2 {
            // Drop the sent prefix now and then so the buffer does not creep forward for ever.
            // mutants: `<` and `MAX_PENDING * 2` are equivalent in what clients see: they only
            // move bytes more or less often.
            self.pending.drain(..self.written);
            self.written = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::os::fd::{FromRawFd, IntoRawFd};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use socket2::SockRef;

    use super::*;

    /// A connection over a Unix socket pair (reads and writes are the same `read(2)`/`write(2)`
    /// a TCP socket gets) and the client's end, both non-blocking, with the given send buffers.
    fn pair(client_sndbuf: usize, server_sndbuf: usize) -> (Connection, UnixStream) {
        let (server, client) = UnixStream::pair().unwrap();
        SockRef::from(&client)
            .set_send_buffer_size(client_sndbuf)
            .unwrap();
        SockRef::from(&server)
            .set_send_buffer_size(server_sndbuf)
            .unwrap();
        server.set_nonblocking(true).unwrap();
        client.set_nonblocking(true).unwrap();
        // SAFETY: the descriptor was just released by `into_raw_fd`, so the stream owns it alone.
        let stream = unsafe { TcpStream::from_raw_fd(server.into_raw_fd()) };
        (Connection::new(stream, tracing::Span::none()), client)
    }

    /// Writes until the socket takes no more; returns how many bytes it took.
    fn fill(client: &mut UnixStream) -> usize {
        let chunk = [7u8; 64 * 1024];
        let mut sent = 0;
        loop {
            match client.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return sent,
                Err(e) => panic!("filling the socket: {e}"),
            }
        }
    }

    // A client with more queued than one turn may read, that does not read its echo: the turn
    // stops after READS_PER_TURN reads (fails in a world without the limit, where it reads until
    // WouldBlock), and with output pending while still reading it asks for WRITABLE as well
    // (fails in a world that asks only for READABLE: the echo would wait for the next input).
    #[test]
    fn a_turn_stops_after_its_share_of_reads_and_then_wants_both_events() {
        let (mut conn, mut client) = pair(4 << 20, 64 * 1024);
        let queued = fill(&mut client);
        assert!(
            queued > (READS_PER_TURN + 1) * READ_CHUNK,
            "the OS queued only {queued} bytes, less than one turn reads"
        );
        let stats = EchoStats::default();
        assert_eq!(conn.take_turn(&stats).unwrap(), Turn::AnotherTurn);
        assert!(conn.pending_len() > 0 && conn.pending_len() < MAX_PENDING);
        assert_eq!(
            conn.wanted_interest(),
            Interest::READABLE | Interest::WRITABLE
        );
        // Negative control: the same connection, paused by back-pressure, wants only WRITABLE.
        conn.paused = true;
        assert_eq!(conn.wanted_interest(), Interest::WRITABLE);
    }

    // A client that resets the connection: the read error ends the connection (fails in a world
    // that takes every read error for "nothing to read now": the broken connection would stay).
    #[test]
    fn a_reset_connection_is_an_error_not_a_pause() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut conn = Connection::new(TcpStream::from_std(server), tracing::Span::none());
        let stats = EchoStats::default();
        // Negative control: nothing sent yet, so the read would block and the turn waits.
        assert_eq!(conn.take_turn(&stats).unwrap(), Turn::WaitForEvents);
        // A zero linger makes close send RST instead of FIN.
        SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
        // The RST travels through loopback on its own time: wait for the OS to report the socket
        // (readable or in error), with a bound no scheduling delay comes near.
        let mut poll = mio::Poll::new().unwrap();
        let mut events = mio::Events::with_capacity(4);
        poll.registry()
            .register(conn.stream_mut(), mio::Token(0), Interest::READABLE)
            .unwrap();
        poll.poll(&mut events, Some(Duration::from_secs(60)))
            .unwrap();
        assert!(!events.is_empty(), "no reset seen");
        let err = conn.take_turn(&stats).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }
}
