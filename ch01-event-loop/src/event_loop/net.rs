//! Section 1.7: the sockets tasks await (asyncio's transports and `loop.sock_recv` family). Each
//! wraps a non-blocking mio socket (section 1.6) and turns "would block" into `Pending` plus a
//! waker left with the reactor, so the task pauses and the loop runs the others meanwhile.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use super::context::with_running_loop;
use super::reactor::{READ, Registration, WRITE};

fn register(source: &mut impl mio::event::Source) -> io::Result<Registration> {
    with_running_loop(|running| Registration::new(&running.reactor, source))
}

/// A TCP connection on the event loop. Reading and writing take `&self`, as with std's
/// `&TcpStream`, so one task may read while another writes through an `Rc<TcpStream>`.
pub struct TcpStream {
    // Declared first, so it is closed before its slot in the reactor is freed.
    socket: mio::net::TcpStream,
    registration: Registration,
}

impl TcpStream {
    fn new(mut socket: mio::net::TcpStream) -> io::Result<Self> {
        // Small request/response messages should leave at once, not wait for Nagle's algorithm.
        socket.set_nodelay(true)?;
        let registration = register(&mut socket)?;
        Ok(Self {
            socket,
            registration,
        })
    }

    /// Starts connecting at once; the task waits until the socket becomes writable, which is how
    /// the OS says the handshake finished (or failed).
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = Self::new(mio::net::TcpStream::connect(addr)?)?;
        poll_fn(|cx| {
            stream.registration.poll_io(WRITE, cx, || {
                if let Some(error) = stream.socket.take_error()? {
                    return Err(error);
                }
                // mutants: guard `true` is equivalent: here `peer_addr` fails only NotConnected.
                match stream.socket.peer_addr() {
                    // Still connecting: the same as "would block".
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    result => result.map(drop),
                }
            })
        })
        .await?;
        Ok(stream)
    }

    /// Reads what has arrived (at least one byte), or 0 at end of stream.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let (mut socket, len) = (&self.socket, buf.len());
        let n = poll_fn(|cx| self.registration.poll_io(READ, cx, || socket.read(buf))).await?;
        self.drained_if_short(READ, n, len);
        Ok(n)
    }

    /// Waits until a read would not wait (data, end of stream or an error), with no buffer in
    /// hand. An edge from the OS says so; without one since the last read, a one-byte peek asks.
    pub async fn readable(&self) -> io::Result<()> {
        let (socket, mut waited) = (&self.socket, false);
        poll_fn(|cx| {
            let ready = self.registration.poll_io(READ, cx, || match waited {
                true => Ok(()),
                false => socket.peek(&mut [0]).map(drop),
            });
            waited = ready.is_pending();
            ready
        })
        .await
    }

    /// Writes as much of `buf` as the OS takes now (at least one byte) and says how much.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut socket = &self.socket;
        let n = poll_fn(|cx| self.registration.poll_io(WRITE, cx, || socket.write(buf))).await?;
        self.drained_if_short(WRITE, n, buf.len());
        Ok(n)
    }

    /// A read or write that did less than asked found the socket drained (or its buffer full):
    /// the next one waits for an edge instead of making a syscall that says `WouldBlock`.
    /// Not after 0 bytes: end of stream brings no further edge.
    // mutants: equivalent: never drained costs a syscall; after end of stream `drained` is a no-op
    fn drained_if_short(&self, direction: usize, done: usize, asked: usize) {
        if done > 0 && done < asked {
            self.registration.drained(direction);
        }
    }

    /// Writes all of `buf`, however many partial writes that takes.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Closes the writing half: the peer reads end of stream, and can still answer.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.socket.shutdown(Shutdown::Write)
    }
}

/// A listening TCP socket on the event loop.
pub struct TcpListener {
    socket: mio::net::TcpListener,
    registration: Registration,
}

impl TcpListener {
    /// Binds and listens (`127.0.0.1:0` picks a free port). Needs a running event loop.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let mut socket = mio::net::TcpListener::bind(addr)?;
        let registration = register(&mut socket)?;
        Ok(Self {
            socket,
            registration,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Waits for the next connection and registers it with the loop.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (socket, peer) =
            poll_fn(|cx| self.registration.poll_io(READ, cx, || self.socket.accept())).await?;
        Ok((TcpStream::new(socket)?, peer))
    }
}
