//! Section 1.7, `serve`: the echo server of section 1.6, now written as tasks on the hand-built
//! loop. One thread; each client is a task that reads and writes as if it were blocking, and
//! the loop runs whichever task's socket the OS reports ready.
//!
//! Not part of the default run: it serves until Ctrl-C. Try `nc 127.0.0.1 PORT` in a few
//! terminals at once, and add `--trace` to watch the loop's iterations.

use std::cell::Cell;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use shared::cli::CommonArgs;

use crate::cli::ServeArgs;
use crate::event_loop::{EventLoop, TcpListener, TcpStream, sleep, spawn};
use crate::observe;

/// How long to stop accepting after running out of file descriptors. The clients wait in the
/// kernel's accept queue meanwhile, and retrying at once would only spin.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

// ---- the lesson: asyncio's `start_server` echo example, on our loop ----

/// Accepts clients forever, one task each (like `asyncio.start_server` with a client callback).
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => drop(spawn(echo(client))),
            // mutants: making this guard `true` is equivalent in every run a test can provoke:
            // on Linux `accept` fails for lack of descriptors (or memory), a client that gave up
            // before we accepted it is dropped by the kernel without an error.
            Err(error) if shared::fdlimit::is_out_of_fds(&error) => {
                eprintln!("serve: out of file descriptors, waiting for clients to leave");
                sleep(ACCEPT_BACKOFF).await;
            }
            // A client that gave up before we accepted it: nothing to serve.
            Err(_) => {}
        }
    }
}

/// Sends every byte back, in order, until the client stops sending; then closes our side too.
/// An error (the client reset the connection) ends only this client's task.
///
/// - Memory: a client costs a buffer only while its data is in hand. `readable` waits with
///   none, and the loop's one spare buffer serves every echo that goes straight out, so 10,000
///   idle clients cost their tasks alone (about 0.7 KB each), not 16 KiB each.
/// - Partial writes: `write_all` retries until the OS has taken every byte.
/// - Slow readers: while `write_all` waits for room, this task reads nothing more, so a client
///   that does not read stops being read (its own sends then block), and each client costs at
///   most one buffer of memory however fast it sends.
/// - Half-close: a client that shuts down its sending side still gets every byte back before we
///   close ours.
pub async fn echo(client: TcpStream) -> io::Result<()> {
    loop {
        client.readable().await?;
        let mut buf = SPARE.take().unwrap_or_else(|| vec![0u8; 16 * 1024]);
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return client.shutdown_write();
        }
        client.write_all(&buf[..n]).await?;
        SPARE.set(Some(buf));
    }
}

thread_local! {
    /// The loop's spare buffer: a client whose data arrives takes it (or a new one, if another
    /// client holds it) and puts it back once every byte is echoed.
    static SPARE: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

// ---- running it ----

/// Binds, prints the address, and serves on this thread until the process is stopped.
pub fn run(common: &CommonArgs, args: &ServeArgs, trace: bool) -> anyhow::Result<()> {
    let no_port = "serve needs --port <PORT> (0-65535; 0 picks a free port)";
    let wanted = SocketAddr::new(args.host, args.port.context(no_port)?);
    // Hundreds of clients need hundreds of descriptors.
    shared::fdlimit::raise_to_hard_limit();
    let event_loop = EventLoop::new().context("setting up the event loop")?;
    let (served, _counts) = observe::counted(trace, || {
        event_loop.block_on(async {
            let listener =
                TcpListener::bind(wanted).with_context(|| format!("cannot listen on {wanted}"))?;
            announce(common, listener.local_addr()?);
            serve(listener).await;
            anyhow::Ok(())
        })
    });
    served
}

/// The first line says where we listen (tests and scripts read it).
fn announce(common: &CommonArgs, addr: SocketAddr) {
    // `writeln!` instead of `println!`: if whoever started us closed our standard output, the
    // server keeps serving instead of panicking on a failed print.
    let mut out = io::stdout().lock();
    let (ip, port) = (addr.ip(), addr.port());
    let json =
        serde_json::json!({"demo": "serve", "section": "1.7", "listening": addr.to_string()});
    let _ = match (common.json, common.quiet) {
        (true, _) => writeln!(out, "{json}"),
        (false, true) => writeln!(out, "listening on {addr}"),
        (false, false) => writeln!(
            out,
            "listening on {addr}\nEcho server on the hand-built event loop: one thread, one task \
             per client. Try `nc {ip} {port}` (several at once). Ctrl-C stops it."
        ),
    };
    let _ = out.flush();
}
