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
