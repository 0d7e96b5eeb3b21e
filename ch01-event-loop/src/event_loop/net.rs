//! Section 1.7: the sockets tasks await. Each wraps a non-blocking mio socket (section 1.6) and
//! turns "would block" into `Pending` plus a registration with the reactor, so the task pauses
//! and the loop runs other tasks until the OS reports the socket ready.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::task::{Context, Poll};

use mio::Token;

use super::executor::with_core;
use super::reactor::{Direction, ReactorHandle, poll_io};

/// A TCP connection on the event loop. Reading and writing take `&self` (as with std's
/// `&TcpStream`), so one task may read while another writes through an `Rc<TcpStream>`.
///
/// ```
/// use ch01_event_loop::event_loop::{block_on, spawn, TcpListener, TcpStream};
/// block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = spawn(async move {
///         let (conn, _) = listener.accept().await.unwrap();
///         let mut buf = [0u8; 5];
///         conn.read_exact(&mut buf).await.unwrap();
///         conn.write_all(&buf).await.unwrap();
///     });
///     let client = TcpStream::connect(addr).await.unwrap();
///     client.write_all(b"hello").await.unwrap();
///     let mut echoed = [0u8; 5];
///     client.read_exact(&mut echoed).await.unwrap();
///     assert_eq!(&echoed, b"hello");
///     server.await.unwrap();
/// });
/// ```
pub struct TcpStream {
    socket: mio::net::TcpStream,
    token: Token,
    reactor: ReactorHandle,
}

/// Hands a socket to the reactor of the loop running on this thread; the token names the socket
/// in the OS's readiness reports.
fn register_with_running_loop(
    socket: &mut impl mio::event::Source,
) -> io::Result<(Token, ReactorHandle)> {
    let reactor = with_core(|core| core.reactor.clone());
    let token = reactor.borrow_mut().register(socket)?;
    Ok((token, reactor))
}

impl TcpStream {
    fn register(mut socket: mio::net::TcpStream) -> io::Result<Self> {
        let (token, reactor) = register_with_running_loop(&mut socket)?;
        Ok(Self {
            socket,
            token,
            reactor,
        })
    }

    /// Connects without blocking: the connect starts at once, and the task waits until the
    /// socket becomes writable, which is how the OS says the handshake finished (or failed).
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = Self::register(mio::net::TcpStream::connect(addr)?)?;
        poll_fn(|cx| {
            stream.poll_ready(Direction::Write, cx, |socket| {
                if let Some(error) = socket.take_error()? {
                    return Err(error);
                }
                match socket.peer_addr() {
                    Ok(_) => Ok(()),
                    // Still connecting: the same as "would block".
                    Err(error) if error.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(error) => Err(error),
                }
            })
        })
        .await?;
        // Small request/response messages should leave at once, not wait for Nagle's algorithm.
        stream.socket.set_nodelay(true)?;
        Ok(stream)
    }

    fn poll_ready<R>(
        &self,
        direction: Direction,
        cx: &mut Context<'_>,
        mut operation: impl FnMut(&mio::net::TcpStream) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        poll_io(&self.reactor, self.token, direction, cx, || {
            operation(&self.socket)
        })
    }

    /// Reads what has arrived (at least one byte), or 0 at end of stream.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_ready(Direction::Read, cx, |mut socket| socket.read(buf))
    }

    /// Writes as much of `buf` as the OS accepts now (at least one byte).
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_ready(Direction::Write, cx, |mut socket| socket.write(buf))
    }

    /// Reads what has arrived (at least one byte), or 0 at end of stream.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// Writes part of `buf` (at least one byte) and says how much.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
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

    /// Fills `buf` exactly, however many partial reads that takes.
    pub async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Closes the writing half: the peer reads end of stream, and can still answer.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.socket.shutdown(std::net::Shutdown::Write)
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.peer_addr()
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.reactor
            .borrow_mut()
            .deregister(&mut self.socket, self.token);
    }
}

/// A listening TCP socket on the event loop.
pub struct TcpListener {
    socket: mio::net::TcpListener,
    token: Token,
    reactor: ReactorHandle,
}

impl TcpListener {
    /// Binds and listens (`127.0.0.1:0` picks a free port). Needs a running event loop.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let mut socket = mio::net::TcpListener::bind(addr)?;
        let (token, reactor) = register_with_running_loop(&mut socket)?;
        Ok(Self {
            socket,
            token,
            reactor,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Waits for the next connection and registers it with the loop.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (socket, peer) = poll_fn(|cx| {
            poll_io(&self.reactor, self.token, Direction::Read, cx, || {
                self.socket.accept()
            })
        })
        .await?;
        socket.set_nodelay(true)?;
        Ok((TcpStream::register(socket)?, peer))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.reactor
            .borrow_mut()
            .deregister(&mut self.socket, self.token);
    }
}
