//! Section 1.6: the echo servers' properties — every byte back, in order, to the right client;
//! slow readers and resets handled; how many clients each server had at once, from its spans.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ch01_sockets::cli::{Cli, Sizes};
use ch01_sockets::demos::echo_server::ServerKind;
use ch01_sockets::echo::most_at_once;
use ch01_sockets::echo::selector::MAX_PENDING;
use ch01_sockets::load;
use clap::Parser as _;
use shared::Recording;
use shared::trace::{named, threads_used};

const PATIENCE: Duration = Duration::from_secs(20);

fn pattern(at: usize) -> u8 {
    // Not periodic in a way that a lost or repeated chunk could hide.
    ((at * 31 + at / 4096) % 251) as u8
}

/// Waits (bounded) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Records every span, and counts by name those closed so far (a test can wait for one to close).
fn watch() -> (Recording, impl Fn(&str) -> usize) {
    let recording = Recording::start();
    let closed = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&closed);
    recording.on_close(move |span| sink.lock().unwrap().push(span.name.clone()));
    let count = move |name: &str| closed.lock().unwrap().iter().filter(|n| *n == name).count();
    (recording, count)
}

#[test]
fn hundred_concurrent_clients_each_get_their_own_bytes_back() {
    let ((), spans) = shared::trace::record(|| {
        let mut server = ServerKind::SingleThreadNonblocking.start().unwrap();
        // `load::run` compares every echoed line with what that client sent, and checks that
        // the server then closed with not one byte more: all 100 x 20 x 100 bytes came back.
        load::run(server.addr, &load(100, 20, 100)).unwrap();
        server.stop().unwrap();
    });
    assert_eq!(most_at_once(&spans), 100, "all clients at once");
    // The server's spans only, not the load's `client` spans.
    let served: Vec<_> = spans.into_iter().filter(|s| s.name != "client").collect();
    assert_eq!(threads_used(&served), 1);
    // No client left waiting (WouldBlock) is no reason to stop accepting for a while.
    assert!(named(&served, "accept paused").is_empty());
}

/// A client that waits at most `PATIENCE` for each read.
fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

fn echoed(stream: &mut TcpStream, line: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(line)?;
    let mut echo = vec![0u8; line.len()];
    stream.read_exact(&mut echo)?;
    Ok(echo)
}

/// Sends `line` and asserts that exactly it comes back.
fn echoes(stream: &mut TcpStream, line: &[u8]) {
    assert_eq!(echoed(stream, line).unwrap(), line);
}

/// The load of `clients` clients, each sending `lines` lines of `line_bytes` bytes.
fn load(clients: u64, lines: u64, line_bytes: u64) -> Sizes {
    let flags = format!("x --clients {clients} --lines {lines} --line-bytes {line_bytes}");
    Cli::parse_from(flags.split_whitespace()).sizes
}

#[test]
fn a_second_client_is_echoed_while_the_first_stays_connected_except_one_at_a_time() {
    for kind in ServerKind::ALL {
        eprintln!("the {kind:?} server:");
        let ((), spans) = shared::trace::record(|| {
            let mut server = kind.start().unwrap();
            let mut first = connect(server.addr);
            echoes(&mut first, b"one\n");
            // The first client stays connected, and says nothing more.
            let mut second = connect(server.addr);
            if kind == ServerKind::OneAtATime {
                // The negative control: one at a time is in read() for the first client, so the
                // second waits in the accept queue: nothing comes back (the timeout ends the wait).
                let briefly = Some(Duration::from_millis(300));
                second.set_read_timeout(briefly).unwrap();
                assert!(echoed(&mut second, b"two\n").is_err(), "{kind:?}");
                // Once the first leaves, the second is served.
                drop(first);
                second.set_read_timeout(Some(PATIENCE)).unwrap();
                let mut echo = [0u8; 4];
                second.read_exact(&mut echo).unwrap();
                assert_eq!(&echo, b"two\n");
            } else {
                echoes(&mut second, b"two\n");
                drop(first);
            }
            drop(second);
            server.stop().unwrap();
        });
        let expected = if kind == ServerKind::OneAtATime { 1 } else { 2 };
        assert_eq!(most_at_once(&spans), expected, "{kind:?}");
    }
}

#[test]
fn thread_per_connection_stop_waits_for_the_clients_being_served() {
    let _recorded = Recording::start();
    let mut server = ServerKind::ThreadPerConnection.start().unwrap();
    let mut client = connect(server.addr);
    echoes(&mut client, b"hi\n");
    let stopper = std::thread::spawn(move || server.stop().unwrap());
    // Its thread is in read() for the connected client: stop() cannot return yet. (Fails for a
    // server that leaves its client threads running on their own.)
    std::thread::sleep(Duration::from_millis(300));
    let early = stopper.is_finished();
    assert!(!early, "stop() returned while a client was being served");
    drop(client);
    eventually("stop() returned", || stopper.is_finished());
    stopper.join().unwrap();
}

// Far more than the socket buffers on both sides and the server's bound (MAX_PENDING): the
// server must pause reading, ask to hear when our socket takes more (WRITABLE), and give a client
// owed another turn that turn without an event, or it stalls (the reads below would time out).
#[test]
fn slow_reader_sending_megabytes_gets_every_byte_back_in_order() {
    const TOTAL: usize = 16 * 1024 * 1024;
    let (recording, closed) = watch();
    let mut server = ServerKind::SingleThreadNonblocking.start().unwrap();
    let mut reader = connect(server.addr);
    reader.set_write_timeout(Some(PATIENCE)).unwrap();
    let mut writer = reader.try_clone().unwrap();
    let (all_back, heard) = std::sync::mpsc::channel::<()>();
    let sender = std::thread::spawn(move || {
        let data: Vec<u8> = (0..TOTAL).map(pattern).collect();
        writer.write_all(&data).unwrap();
        // Half-close ("that was all") once every byte came back: no event comes from us before.
        let _ = heard.recv();
        writer.shutdown(Shutdown::Write).unwrap();
    });

    // Do not read until the server had to stop reading from us: its buffer for us is full.
    eventually("reading paused", || closed("read paused") > 0);

    let mut received = 0usize;
    let mut chunk = vec![0u8; 32 * 1024];
    while received < TOTAL {
        let n = reader.read(&mut chunk).expect("the echo stalled");
        assert!(n > 0, "the server closed after {received} bytes");
        for (i, &byte) in chunk[..n].iter().enumerate() {
            assert_eq!(byte, pattern(received + i), "byte {} differs", received + i);
        }
        received += n;
        if received % (1024 * 1024) < n {
            std::thread::sleep(Duration::from_millis(2)); // a slow reader
        }
    }
    all_back.send(()).unwrap();
    sender.join().unwrap();
    // Then the server answers our half-close with its own, and nothing more.
    assert_eq!(reader.read(&mut chunk).unwrap(), 0, "not closed");
    server.stop().unwrap();
    let spans = recording.finish();
    // The server's buffer for one client stayed bounded: it grows only by reading, and
    // reading stops at the bound (a pause each time), one read at most beyond it.
    // Each pause's label gives the bytes buffered for us then: `read paused N`.
    let buffered = named(&spans, "read paused").into_iter();
    let buffered = buffered.map(|span| span.label.rsplit(' ').next().unwrap().parse::<usize>());
    let peak = buffered.map(Result::unwrap).max().unwrap();
    assert!(peak <= MAX_PENDING + 64 * 1024, "{peak} bytes");
    assert!(named(&spans, "dropped").is_empty());
}

#[test]
fn clients_that_reset_are_dropped_one_that_closes_half_way_gets_its_bytes_others_are_served() {
    let (_recording, closed) = watch();
    let mut server = ServerKind::SingleThreadNonblocking.start().unwrap();
    // A well-behaved client, connected before and served after the resets.
    let mut steady = connect(server.addr);

    for i in 0..5 {
        let mut rude = connect(server.addr);
        if i % 2 == 0 {
            // Mid-transfer: much more than the server can echo before we reset.
            rude.write_all(&vec![7u8; 512 * 1024]).unwrap_or(());
        } else {
            // All echoed, nothing in flight: only the server's read can see the reset.
            echoes(&mut rude, b"hi\n");
        }
        // SO_LINGER zero: the kernel sends a reset (RST) instead of a normal close.
        let linger = socket2::SockRef::from(&rude).set_linger(Some(Duration::ZERO));
        linger.unwrap();
    }
    // Fails for a server that keeps a reset connection (its span would never close).
    eventually("resets dropped", || closed("connection") == 5);
    assert!(closed("dropped") >= 1);
    echoes(&mut steady, b"still there?\n");

    // Half-closed after a line without its newline: every byte comes back, then the close.
    let mut client = connect(server.addr);
    client.write_all(b"partial line without newline").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let echoed = std::io::read_to_string(&client).unwrap();
    assert_eq!(echoed, "partial line without newline");
    eventually("the client was closed", || closed("connection") == 6);
    // And new clients are still accepted.
    load::run(server.addr, &load(3, 3, 16)).unwrap();
    server.stop().unwrap();
}

#[test]
fn stopping_or_dropping_the_server_closes_its_clients_and_its_listener() {
    for drop_it in [false, true] {
        let recording = Recording::start();
        let mut server = ServerKind::SingleThreadNonblocking.start().unwrap();
        let addr = server.addr;
        let mut client = connect(addr);
        echoes(&mut client, b"hello\n");
        match drop_it {
            true => drop(server),
            false => server.stop().unwrap(),
        }
        let spans = recording.finish();
        // The client reads end of stream or a reset, never a timeout. (Fails in a world where
        // stopping leaves the server's thread, and so its sockets, alive.)
        match client.read(&mut [0u8; 1]) {
            Ok(n) => assert_eq!(n, 0, "the stopped server still sent {n} bytes"),
            Err(e) => assert!(
                !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "the connection stayed open after the server stopped: {e}"
            ),
        }
        // The client's connection span closed with the selector (a span still open is left
        // out of a recording): fails where the stopped server forgets the clients it had.
        assert_eq!(named(&spans, "connection").len(), 1);
        // The listener was closed with the selector: nobody accepts any more. (Eventually: a
        // test spawning a child meanwhile holds a copy of every descriptor until its exec.)
        eventually("nobody accepts", || TcpStream::connect(addr).is_err());
    }
}
