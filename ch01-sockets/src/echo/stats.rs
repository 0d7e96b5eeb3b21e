//! Section 1.6: what an echo server saw, counted by the server itself.
//!
//! The claims of 1.6 are about the *server's* point of view ("how many clients did one thread
//! serve at once?"), so the servers count, and the demos and tests read the counts. Counters are
//! atomics because two of the three servers use more than one thread.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared between a running server and whoever watches it.
#[derive(Debug, Default)]
pub struct EchoStats {
    connected: AtomicU64,
    max_connected: AtomicU64,
    accepted: AtomicU64,
    threads_started: AtomicU64,
    bytes_echoed: AtomicU64,
    dropped_on_error: AtomicU64,
    read_pauses: AtomicU64,
    peak_buffered_bytes: AtomicU64,
    accept_backoffs: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Clients connected right now.
    pub connected: u64,
    /// The most clients that were connected at the same moment.
    pub max_connected: u64,
    /// Connections accepted in total.
    pub accepted: u64,
    /// Threads the server started (the thread that runs the server counts as one).
    pub threads_started: u64,
    /// Bytes written back to clients.
    pub bytes_echoed: u64,
    /// Clients dropped because their connection failed (reset, broken pipe, ...).
    pub dropped_on_error: u64,
    /// Times the server stopped reading from a client because too much output was pending.
    pub read_pauses: u64,
    /// The largest output buffer any one connection held (bytes read, not yet written back).
    pub peak_buffered_bytes: u64,
    /// Times `accept` failed (e.g. out of file descriptors) and the server backed off.
    pub accept_backoffs: u64,
}

impl EchoStats {
    /// A client was accepted.
    pub fn client_connected(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let now = self.connected.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_connected.fetch_max(now, Ordering::SeqCst);
    }

    /// A client's connection is closed (cleanly or not).
    pub fn client_left(&self) {
        self.connected.fetch_sub(1, Ordering::SeqCst);
    }

    /// The server started one more thread.
    pub fn thread_started(&self) {
        self.threads_started.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` bytes went back to a client.
    pub fn echoed(&self, n: usize) {
        self.bytes_echoed.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A client was dropped because of an I/O error on its connection.
    pub fn dropped_on_error(&self) {
        self.dropped_on_error.fetch_add(1, Ordering::Relaxed);
    }

    /// Reading from a client paused because its output buffer is full.
    pub fn read_paused(&self) {
        self.read_pauses.fetch_add(1, Ordering::Relaxed);
    }

    /// One connection now buffers `bytes` bytes of output.
    pub fn buffered(&self, bytes: usize) {
        self.peak_buffered_bytes
            .fetch_max(bytes as u64, Ordering::Relaxed);
    }

    /// `accept` failed and the server stops accepting for a moment.
    pub fn accept_backed_off(&self) {
        self.accept_backoffs.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as they are now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connected: self.connected.load(Ordering::SeqCst),
            max_connected: self.max_connected.load(Ordering::SeqCst),
            accepted: self.accepted.load(Ordering::Relaxed),
            threads_started: self.threads_started.load(Ordering::Relaxed),
            bytes_echoed: self.bytes_echoed.load(Ordering::Relaxed),
            dropped_on_error: self.dropped_on_error.load(Ordering::Relaxed),
            read_pauses: self.read_pauses.load(Ordering::Relaxed),
            peak_buffered_bytes: self.peak_buffered_bytes.load(Ordering::Relaxed),
            accept_backoffs: self.accept_backoffs.load(Ordering::Relaxed),
        }
    }
}
