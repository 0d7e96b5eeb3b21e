//! Section 1.6, demo `echo-server`: the same load against three servers shaped like the book's
//! chapter 3 listings (blocking, one client at a time, 3.1 to 3.3; a thread per client; one
//! thread and a selector, 3.7), then listing 3.7 in CPython (`echo_server.py`). `src/echo/`
//! handles partial writes, slow readers and running out of descriptors. Each server runs in its
//! own process: its `connection` spans say how many clients it had at once and on which threads.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

use anyhow::Context;
use serde::Serialize;
use shared::child::SelfExe;
use shared::narrate::plural;
use shared::python::{Python, Script};
use shared::timing::{human_ms, ms, ratio};
use shared::trace::threads_used;
use shared::{Narrator, Report, Span};
use tracing::info_span;

use crate::echo::selector::{Client, LISTENER, Selector};
use crate::echo::{Running, incoming, most_at_once};
use crate::{SECTION, cli::Sizes, load};

// ---- the lesson: three echo servers, as the book's chapter 3 would write them in Rust ----
/// Listings 3.1 and 3.2: echo one client until it leaves; the others wait in the accept queue.
pub fn one_at_a_time(listener: TcpListener) {
    for (n, mut client) in incoming(&listener) {
        let _ = info_span!("connection", n).in_scope(|| echo_until_eof(&mut client));
    }
}

/// A thread per client (none left: that client is closed): one blocks in `read`, others go on.
pub fn thread_per_client(listener: TcpListener) {
    let mut threads = Vec::new();
    for (n, mut client) in incoming(&listener) {
        let connection = info_span!("connection", n); // open from accept, as in one_at_a_time
        let serve = move || connection.in_scope(|| echo_until_eof(&mut client));
        threads.extend(thread::Builder::new().spawn(serve).ok());
        threads.retain(|thread| !thread.is_finished());
    }
    threads.into_iter().for_each(|thread| drop(thread.join()));
}

/// Listing 3.2: `connection.recv`, `sendall` until EOF; each `read` halts the thread till data.
pub fn echo_until_eof(client: &mut TcpStream) -> io::Result<()> {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match client.read(&mut buffer)? {
            0 => return Ok(()),
            n => client.write_all(&buffer[..n])?,
        }
    }
}

/// Listing 3.7: one thread sleeps in `select` until sockets are ready, then does what they allow.
pub fn single_thread_selector(mut selector: Selector) -> io::Result<()> {
    while let Some(ready) = selector.select()? {
        for token in ready {
            if token == LISTENER {
                while let Some(stream) = selector.accept() {
                    selector.register(stream);
                }
            } else {
                selector.turn(token, recv_and_send);
            }
        }
    }
    Ok(())
}

/// Listing 3.7's `recv` until `WouldBlock`, `send` what fits; the rest waits in `client`'s buffer.
fn recv_and_send(client: &mut Client) -> io::Result<()> {
    let mut buffer = [0u8; 16 * 1024]; // mutants: `16 + 1024` is equivalent: only more reads
    client.send_what_fits()?;
    while client.may_read() {
        match client.stream.read(&mut buffer) {
            Ok(0) => client.peer_done_writing = true,
            Ok(n) => client.send(&buffer[..n])?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e), // reset: only this client is dropped
        }
    }
    Ok(())
}
// ---- measuring it: each server under the same load, clients and threads from its spans ----

/// Connections with a row in the timelines.
const TIMELINE_ROWS: u64 = 6;

/// Listing 3.7 in CPython (`selectors`): the row `python_selector`.
const PYTHON_SELECTOR: Script = Script::new("echo_server.py", include_str!("echo_server.py"));

type Serve = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// The three servers of the lesson, each a child process's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ServerKind {
    /// Blocking sockets, one thread, one client at a time.
    OneAtATime,
    /// Blocking sockets, one thread per client.
    ThreadPerConnection,
    /// Non-blocking sockets and mio, one thread for every client.
    SingleThreadNonblocking,
}

impl ServerKind {
    /// All three, in the order the demo runs them.
    pub const ALL: [ServerKind; 3] = [
        ServerKind::OneAtATime,
        ServerKind::ThreadPerConnection,
        ServerKind::SingleThreadNonblocking,
    ];

    /// The measurement name in the report (a public interface: scripts read it).
    pub fn measurement_name(self) -> &'static str {
        match self {
            ServerKind::OneAtATime => "one_at_a_time",
            ServerKind::ThreadPerConnection => "thread_per_connection",
            ServerKind::SingleThreadNonblocking => "single_thread_nonblocking",
        }
    }

    /// Starts this server on `127.0.0.1`, any free port, on a thread of its own.
    pub fn start(self) -> io::Result<Running> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let (stop, serve): (Box<dyn Fn() + Send>, Serve) = match self {
            ServerKind::SingleThreadNonblocking => {
                let (selector, stop) = Selector::new(listener)?;
                let serve = || single_thread_selector(selector);
                (Box::new(stop), Box::new(serve))
            }
            blocking => {
                let copy = listener.try_clone()?;
                let stop = move || drop(socket2::SockRef::from(&copy).shutdown(Shutdown::Read));
                let serve = match blocking {
                    ServerKind::OneAtATime => one_at_a_time,
                    _ => thread_per_client,
                };
                let serve = move || {
                    serve(listener);
                    Ok(())
                };
                (Box::new(stop), Box::new(serve))
            }
        };
        let thread = std::thread::Builder::new()
            .name("echo-server".into())
            .spawn(|| info_span!("server").in_scope(serve))?;
        let thread = Some(thread);
        Ok(Running { addr, stop, thread })
    }
}

/// The child's job: serves, prints its address, stops when stdin closes, and answers the process's
/// (voluntary, involuntary) context switches meanwhile (`getrusage`, ended threads included).
pub fn serve(kind: ServerKind) -> anyhow::Result<(u64, u64)> {
    // Hundreds of clients need hundreds of descriptors.
    shared::fdlimit::raise_to_hard_limit();
    let mut server = kind.start().context("starting the server")?;
    println!("{}", server.addr);
    let (voluntary, involuntary) = own_switches();
    io::stdin().read_to_end(&mut Vec::new())?;
    server.stop().context("the server failed")?;
    let (v, i) = own_switches();
    Ok((v.saturating_sub(voluntary), i.saturating_sub(involuntary)))
}

/// This process's voluntary and involuntary context switches so far.
fn own_switches() -> (u64, u64) {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid and writable; RUSAGE_SELF is this process, all its threads.
    let _failed = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0;
    (usage.ru_nvcsw as u64, usage.ru_nivcsw as u64)
}

/// A server to measure: one of this binary's (run as its child), or listing 3.7 in CPython.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum Server {
    Rust(ServerKind),
    Python(Python),
}

/// One server under the load.
#[derive(Debug, Clone, Serialize)]
pub struct ServerRun {
    /// `one_at_a_time`, `thread_per_connection`, `single_thread_nonblocking`, `python_selector`.
    pub name: &'static str,
    /// From the first client's connect to the last client's finish.
    pub wall_ms: f64,
    /// Threads that ran the server's spans (the accepting thread included).
    pub threads: u64,
    /// The most `connection` spans open at one instant: clients connected at once.
    pub max_concurrent_clients: u64,
    /// Lines sent and echoed back, per second of wall time.
    pub round_trips_per_sec: f64,
    /// OS context switches (voluntary and involuntary) of the server's threads while serving.
    pub server_context_switches: u64,
    /// The same, per line echoed.
    pub context_switches_per_round_trip: f64,
    /// Of those, the voluntary ones: a server thread blocked (in `read`, or in `poll`).
    pub server_voluntary_switches: u64,
    /// The same, per line echoed: about 1 for a server that blocks in `read` for every line.
    pub voluntary_switches_per_round_trip: f64,
    /// Whether every client of the load was connected to the server at the same moment.
    pub all_clients_at_once: bool,
    /// The server's `server` and `connection` spans, from its process, on our clock.
    #[serde(skip)]
    pub spans: Vec<Span>,
}

/// Runs the load (`--clients`, `--lines`, `--line-bytes`) against a server in its own process.
pub fn measure_one(server: &Server, load: &Sizes) -> anyhow::Result<ServerRun> {
    let (name, child) = match server {
        Server::Rust(kind) => (kind.measurement_name(), SelfExe::current()?.spawn(kind)),
        Server::Python(python) => ("python_selector", python.spawn(&PYTHON_SELECTOR, &[])),
    };
    let mut child = child.with_context(|| format!("starting the {name} server"))?;
    let addr = child.read_line()?.parse().context("the server's address")?;
    let total = Some(load.clients);
    let (wall, _clients) = shared::narrate::record(name, "client", total, || load::run(addr, load));
    let wall = wall.with_context(|| format!("load against the {name} server"))?;
    // The server stops when its standard input closes, once its clients are gone.
    let server = child.wait::<(u64, u64)>()?;
    let (voluntary, involuntary) = server.result;
    let round_trips = (load.clients * load.lines) as f64;
    let per_round_trip = |count: u64| ratio(count as f64, round_trips);
    let at_once = most_at_once(&server.spans);
    Ok(ServerRun {
        name,
        wall_ms: ms(wall),
        threads: threads_used(&server.spans) as u64,
        max_concurrent_clients: at_once,
        round_trips_per_sec: ratio(round_trips, wall.as_secs_f64()),
        server_context_switches: voluntary + involuntary,
        context_switches_per_round_trip: per_round_trip(voluntary + involuntary),
        server_voluntary_switches: voluntary,
        voluntary_switches_per_round_trip: per_round_trip(voluntary),
        all_clients_at_once: at_once == load.clients,
        spans: server.spans,
    })
}

/// The lesson's three servers (this program, run as its child), then CPython's unless absent.
pub fn measure(sizes: &Sizes) -> anyhow::Result<Vec<ServerRun>> {
    // Each client holds a socket.
    shared::fdlimit::ensure_available(sizes.clients + 16, "the echo clients")?;
    let rust = ServerKind::ALL.map(Server::Rust);
    let python = shared::narrate::python().map(Server::Python);
    let servers = rust.iter().chain(&python);
    servers.map(|server| measure_one(server, sizes)).collect()
}

/// The demo, narrated.
pub fn run(sizes: &Sizes, narrator: &Narrator) -> anyhow::Result<()> {
    let title = "One thread, many clients: an echo server on non-blocking sockets";
    let claim = "With readiness notification one thread serves every client at once; with \
                 blocking sockets it is one client at a time, or one thread per client, and the \
                 OS switching between those threads.";
    narrator.header(SECTION, title, claim);
    narrator.say(format!(
        "The load: {}, each sending {} of {} bytes one at a time, every echo checked.",
        plural(sizes.clients, "client", "clients"),
        plural(sizes.lines, "line", "lines"),
        sizes.line_bytes
    ));
    let runs = measure(sizes)?;
    narrator.report(&Report::new("echo-server", SECTION, runs.iter().collect()));
    let legend = "In the timelines, each row is one connection from accept to close, with the OS \
                  thread that served it (t...): one thread in turn, one thread each, one for all.";
    narrator.say(legend);
    let first = TIMELINE_ROWS.min(sizes.clients);
    let rows = plural(first, "connection", "connections");
    let shown: Vec<String> = (0..first).map(|n| format!("connection {n}")).collect();
    for run in &runs {
        let spans = run.spans.iter().filter(|s| shown.contains(&s.label));
        let title = format!("{}, the first {rows}, each from accept to close", run.name);
        narrator.timeline(&title, &spans.cloned().collect::<Vec<_>>());
    }
    narrator.summary(SECTION, &summary(&runs, sizes.clients));
    Ok(())
}

fn summary(runs: &[ServerRun], clients: u64) -> Vec<String> {
    let [one, threads, single, ..] = runs else {
        return Vec::new();
    };
    let at_once = |run: &ServerRun| plural(run.max_concurrent_clients, "client", "clients");
    // "N clients at once on T threads, in W", and why not all, when not all were.
    let served = |run: &ServerRun, why: &str| {
        let not_all = match run.all_clients_at_once {
            true => String::new(),
            false => format!(" (not all {clients}: {why})"),
        };
        let threads = plural(run.threads, "thread", "threads");
        let wall = human_ms(run.wall_ms);
        format!("{} at once{not_all} on {threads}, in {wall}", at_once(run))
    };
    let early = "the first clients had finished their lines before the last was accepted";
    let one_per_select = format!("it accepts one client per select(), and {early}");
    let behind = "its accepting thread is one among all the threads that want a CPU, and it \
                  accepted the last clients only after the first had left";
    let mut lines = vec![
        format!(
            "Blocking, one thread: at most {} connected at a time; the others waited in line \
             (the staircase above).",
            at_once(one)
        ),
        format!("Thread per connection: {}.", served(threads, behind)),
        format!(
            "Non-blocking + mio: {}: waiting on one client never held up another.",
            served(single, early)
        ),
    ];
    if let Some(python) = runs.get(3) {
        lines.push(format!(
            "CPython's listing 3.7 (selectors): {}, blocked and woken {:.2} times per round \
             trip: the same readiness loop, in the book's language.",
            served(python, &one_per_select),
            python.voluntary_switches_per_round_trip
        ));
    }
    if single.server_context_switches == 0 && threads.server_context_switches == 0 {
        lines.push("Context switches are counted on Linux only; here they read 0.".into());
        return lines;
    }
    let [o, t, s] = [one, threads, single].map(|run| run.voluntary_switches_per_round_trip);
    let why = match s < o.min(t) {
        true => ": it slept in poll() only when no socket at all was ready.",
        false => ", no fewer this time: the clients kept it waiting, one socket at a time.",
    };
    lines.push(format!(
        "Blocked and woken again, per round trip: {o:.2} for one at a time and {t:.2} for thread \
         per connection (each waits in read() for the next line unless it is there already), \
         {s:.2} for the single thread{why}"
    ));
    lines
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::{FromRawFd, IntoRawFd};
    use std::os::unix::net::UnixStream;

    use mio::Interest;

    use super::*;
    use crate::echo::selector::{MAX_PENDING, READS_PER_TURN};

    // A client with more queued than one turn may read, that does not read its echoes: the turn
    // stops after READS_PER_TURN reads, owed another (fails without the limit, where one client
    // keeps the thread until WouldBlock), and with output pending while still reading it wants
    // WRITABLE as well (fails where it asks only for READABLE: the echo would wait for more input).
    #[test]
    fn a_turn_stops_after_its_share_of_reads_and_then_wants_both_events() {
        // A Unix socket pair: the same read(2) and write(2) as TCP.
        let (server, mut peer) = UnixStream::pair().unwrap();
        for (socket, bytes) in [(&peer, 4 << 20), (&server, 64 * 1024)] {
            let sized = socket2::SockRef::from(socket).set_send_buffer_size(bytes);
            sized.and_then(|()| socket.set_nonblocking(true)).unwrap();
        }
        let mut queued = 0;
        while let Ok(n) = peer.write(&[7u8; 64 * 1024]) {
            queued += n;
        }
        let enough = (READS_PER_TURN + 1) * 16 * 1024;
        assert!(queued > enough, "only {queued} bytes queued");
        // SAFETY: the descriptor was just released by `into_raw_fd`: the stream owns it alone.
        let stream = unsafe { mio::net::TcpStream::from_raw_fd(server.into_raw_fd()) };
        let mut client = Client::new(stream, tracing::Span::none());
        // The lesson's turn: reads while it may, every echo left pending (the peer reads none).
        recv_and_send(&mut client).unwrap();
        assert_eq!(client.reads, READS_PER_TURN + 1, "owed another turn");
        assert!(!client.pending.is_empty() && client.pending.len() < MAX_PENDING);
        let both = Interest::READABLE | Interest::WRITABLE;
        assert_eq!(client.wanted_interest(), both);
        // Negative control: the same client, paused by back-pressure, wants only WRITABLE.
        client.paused = true;
        assert_eq!(client.wanted_interest(), Interest::WRITABLE);
    }
}
