//! Section 1.7: `serve`, the echo server on the hand-built loop, run as a learner runs it and
//! driven with real sockets: every byte comes back under partial writes, slow readers, resets and
//! half-closes, and bad ports get one line, not a panic.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ch01-event-loop");
/// No single read may wait longer than this: a lost byte fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(20);

/// Kills the server even when an assertion fails; keeps its standard output open meanwhile.
struct Server(Child, #[allow(dead_code)] BufReader<ChildStdout>);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    fn start() -> (Server, String) {
        let (child, stdout, addr, _) =
            shared::testing::start_server(BIN, &["serve", "--port", "0"], None);
        (Server(child, stdout), addr)
    }

    fn is_running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    stream
}

fn echo_once(addr: &str, text: &[u8]) {
    let mut stream = connect(addr);
    stream.write_all(text).unwrap();
    let mut echo = vec![0u8; text.len()];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(echo, text);
}

#[test]
fn a_slow_reader_that_half_closes_gets_every_byte_back_while_others_are_served() {
    const SIZE: usize = 8 * 1024 * 1024;
    let (_server, addr) = Server::start();
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    let mut client = connect(&addr);
    // Far more than the socket buffers hold: the server's writes are partial and then wait,
    // because this client reads nothing for a while.
    let writer = {
        let (mut client, data) = (client.try_clone().unwrap(), data.clone());
        std::thread::spawn(move || {
            client.write_all(&data).unwrap();
            client.shutdown(Shutdown::Write).unwrap();
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // The server is stuck on this client's full buffers, not on the whole loop.
    echo_once(&addr, b"meanwhile, another client\n");
    let mut received = Vec::with_capacity(SIZE);
    client.read_to_end(&mut received).unwrap();
    writer.join().unwrap();
    assert_eq!(received.len(), SIZE, "every byte, then end of stream");
    assert!(received == data, "in order");
}

/// The server's resident memory in bytes, from `/proc/<pid>/status`.
#[cfg(target_os = "linux")]
fn resident_bytes(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:")?.strip_suffix("kB"));
    kib.unwrap().trim().parse::<usize>().unwrap() * 1024
}

/// A client costs the server a buffer only while its data is in hand. First the negative
/// control: clients that send and never read, so that each task holds data it cannot write; the
/// measurement sees a buffer each (fails if it could not see one). Then idle clients: fails where
/// each task takes its 16 KiB buffer up front (as `serve` once did), or before data has come.
#[cfg(target_os = "linux")]
#[test]
fn a_client_costs_a_buffer_only_while_its_data_is_in_hand() {
    let count = 2_000.min(shared::fdlimit::raise_to_hard_limit().saturating_sub(300)) as usize;
    let (server, addr) = Server::start();
    let resident = || resident_bytes(server.0.id());
    let mut idle: Vec<TcpStream> = Vec::new();
    // Silent clients, then one that is echoed: the loop accepts, and first runs their tasks, in
    // order, so the echo says that every client before it has its task, waiting.
    let mut add_idle = |n: usize| {
        for _ in 0..n / 100 {
            idle.extend((0..100).map(|_| connect(&addr)));
            let last = idle.last_mut().unwrap();
            last.write_all(b"hi").unwrap();
            last.read_exact(&mut [0u8; 2]).unwrap();
        }
    };
    add_idle(100); // the loop's tables and its spare buffer exist from here on

    // Before the idle clients, whose tables' growth frees memory that new buffers could reuse.
    let (stuck, before) = (32, resident());
    let mut senders: Vec<TcpStream> = (0..stuck).map(|_| connect(&addr)).collect();
    senders
        .iter()
        .for_each(|s| s.set_nonblocking(true).unwrap());
    let (chunk, started) = (vec![7u8; 64 * 1024], std::time::Instant::now());
    let held = || resident().saturating_sub(before) / stuck;
    while held() < 12 * 1024 {
        let held = held();
        assert!(started.elapsed() < PATIENCE, "{held} bytes per holder");
        for sender in &mut senders {
            // Would block: the server has stopped reading this client, as it should.
            if let Err(e) = sender.write(&chunk) {
                assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}");
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    let before = resident();
    add_idle(count);
    let per_idle = resident().saturating_sub(before) / count;
    assert!(per_idle < 4096, "{per_idle} bytes per idle client");
}

/// Closes `stream` with a reset instead of a FIN (what a crashed client looks like): with
/// SO_LINGER at zero, dropping the socket sends RST.
fn reset(stream: TcpStream) {
    let linger = Some(Duration::ZERO);
    socket2::SockRef::from(&stream).set_linger(linger).unwrap();
}

#[test]
fn clients_that_reset_mid_echo_end_only_their_own_task() {
    let (mut server, addr) = Server::start();
    for _ in 0..5 {
        let mut client = connect(&addr);
        // Enough that the server is still echoing when the reset arrives.
        client.write_all(&vec![7u8; 256 * 1024]).unwrap_or(());
        reset(client);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.is_running(), "the server died of a client's reset");
    echo_once(&addr, b"still here\n");
}

#[test]
fn bad_ports_and_ports_in_use_give_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = format!("serve --port {}", taken.local_addr().unwrap().port());
    for (args, expected) in [
        ("serve --port 70000", "--port"),
        ("serve --port http", "--port"),
        ("serve", "--port"),
        ("serve --port", "--port"),
        ("serve --port 0 --host nowhere", "--host"),
        (&in_use, "cannot listen on 127.0.0.1:"),
    ] {
        let output = shared::testing::run(BIN, &args.split(' ').collect::<Vec<_>>());
        let line = shared::testing::assert_one_line_error(&output, args);
        assert!(line.contains(expected), "{line}");
    }
}

/// What `serve` prints before it serves: the address and a hint for a learner; the address alone
/// with `--quiet`; one JSON line with `--json`. Fails if a mode printed another mode's lines.
/// Each server then echoes 50 clients at once.
#[test]
fn serve_announces_itself_as_each_output_mode_asks_and_echoes_many_clients_at_once() {
    let modes: [(&[&str], usize); 3] = [(&[], 2), (&["--quiet"], 1), (&["--json"], 1)];
    for (flags, expected_lines) in modes {
        let mut child = Command::new(BIN)
            .args(["serve", "--port", "0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let addr = match flags {
            ["--json"] => {
                let line: serde_json::Value = serde_json::from_str(&first).unwrap();
                assert_eq!(line["demo"], "serve", "{first}");
                line["listening"].as_str().unwrap().to_string()
            }
            _ => first.trim().strip_prefix("listening on ").unwrap().into(),
        };
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        let mut server = Server(child, stdout);
        // All connected and waiting before any is answered: one thread serves them together.
        // The echoes also prove it is serving, so it has printed all it prints before serving.
        let mut clients: Vec<TcpStream> = (0..50).map(|_| connect(&addr)).collect();
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .write_all(format!("client {i:02}\n").as_bytes())
                .unwrap();
        }
        for (i, client) in clients.iter_mut().enumerate() {
            let mut echo = [0u8; 10];
            client.read_exact(&mut echo).unwrap();
            assert_eq!(&echo, format!("client {i:02}\n").as_bytes());
        }
        server.0.kill().unwrap();
        let mut rest = String::new();
        server.1.read_to_string(&mut rest).unwrap();
        let lines = 1 + rest.lines().count();
        assert_eq!(lines, expected_lines, "{flags:?}: {first}{rest}");
    }
}

/// Fails where running out of descriptors is taken for a client that gave up: the server then
/// says nothing and retries `accept` at once, for ever, serving nobody.
#[cfg(target_os = "linux")]
#[test]
fn out_of_descriptors_the_server_says_so_and_serves_again_when_clients_leave() {
    // At most 24 descriptors, soft and hard, so that raising the soft limit does not help.
    let (child, stdout, addr, stderr) =
        shared::testing::start_server(BIN, &["serve", "--port", "0"], Some(24));
    let mut server = Server(child, stdout);
    // More clients than descriptors: the kernel queues them, `accept` runs out.
    let clients: Vec<TcpStream> = (0..40).map(|_| connect(&addr)).collect();
    let said = stderr.recv_timeout(PATIENCE).expect("said nothing");
    assert!(said.contains("out of file descriptors"), "{said:?}");
    drop(clients);
    echo_once(&addr, b"room again\n");
    assert!(server.is_running());
}
