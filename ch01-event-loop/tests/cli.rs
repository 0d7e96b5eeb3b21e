//! Section 1.7: the real binary, as a learner runs it: help, JSON output, bad input, trace, and
//! `serve` driven with real sockets (every byte comes back under partial writes, slow readers,
//! resets and half-closes; bad ports get one line, not a panic). What each demo's numbers must
//! say is checked in `tests/demos.rs`; here only that they are printed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use shared::testing::{Row, assert_one_line_error, assert_rows, json_lines};

const BIN: &str = env!("CARGO_BIN_EXE_ch01-event-loop");

/// Runs the binary with these arguments, separated by spaces.
fn run_line(args: &str) -> std::process::Output {
    shared::testing::run(BIN, &args.split(' ').collect::<Vec<_>>())
}
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

/// Starts `serve` on a free port; returns it and its address.
fn start_server() -> (Server, String) {
    let (child, stdout, addr, _) =
        shared::testing::start_server(BIN, &["serve", "--port", "0"], None);
    (Server(child, stdout), addr)
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
    let (_server, addr) = start_server();
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

/// A client costs the server a buffer only while its data is in hand. First the negative
/// control: clients that send and never read, so that each task holds data it cannot write; the
/// measurement sees a buffer each (fails if it could not see one). Then idle clients: fails where
/// each task takes its 16 KiB buffer up front (as `serve` once did), or before data has come.
#[cfg(target_os = "linux")]
#[test]
fn a_client_costs_a_buffer_only_while_its_data_is_in_hand() {
    let count = 2_000.min(shared::fdlimit::raise_to_hard_limit().saturating_sub(300)) as usize;
    let (server, addr) = start_server();
    // The server's resident memory in bytes.
    let resident = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.0.id())).unwrap();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:")?.strip_suffix("kB"));
        kib.unwrap().trim().parse::<usize>().unwrap() * 1024
    };
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

#[test]
fn clients_that_reset_mid_echo_end_only_their_own_task() {
    let (mut server, addr) = start_server();
    for _ in 0..5 {
        let mut client = connect(&addr);
        // Enough that the server is still echoing when the reset arrives.
        client.write_all(&vec![7u8; 256 * 1024]).unwrap_or(());
        // Dropped with SO_LINGER at zero, the socket sends a reset instead of a FIN (what a
        // crashed client looks like).
        let linger = Some(Duration::ZERO);
        socket2::SockRef::from(&client).set_linger(linger).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let running = server.0.try_wait().unwrap().is_none();
    assert!(running, "the server died of a client's reset");
    echo_once(&addr, b"still here\n");
}

#[test]
fn bad_input_and_bad_ports_give_one_clear_line() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = format!("serve --port {}", taken.local_addr().unwrap().port());
    for (args, expected) in [
        ("timers --count -5", "--count"),
        ("requests --requests 0", "--requests"),
        ("--requests many", "--requests"),
        ("no-such-demo", "no-such-demo"),
        ("requests --url https://127.0.0.1:1/", "error:"),
        (r#"__child {"NoSuchJob":1}"#, "error:"),
        ("serve --port 70000", "--port"),
        ("serve --port http", "--port"),
        ("serve", "--port"),
        ("serve --port", "--port"),
        ("serve --port 0 --host nowhere", "--host"),
        (&in_use, "cannot listen on 127.0.0.1:"),
    ] {
        let line = assert_one_line_error(&run_line(args), args);
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
        let (mut stdout, mut first) = (BufReader::new(child.stdout.take().unwrap()), String::new());
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
    assert!(server.0.try_wait().unwrap().is_none(), "the server died");
}

#[test]
fn help_lists_every_demo_with_its_section() {
    let output = run_line("--help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for demo in "requests timers echo-bench cooperative offload serve 1.7".split(' ') {
        assert!(help.contains(demo), "{demo} missing from --help");
    }
}

/// Rows named `names`, each with `fields` (both space-separated), as `assert_rows` takes them.
fn rows(names: &'static str, fields: &'static str) -> Vec<Row> {
    let fields: &[&str] = Vec::leak(fields.split(' ').collect());
    names.split(' ').map(|name| (name, fields)).collect()
}

#[test]
fn json_output_has_the_documented_names_and_fields() {
    let tiny = "--json --no-python --requests 5 --delay-ms 300 --count 50 --connections 2 \
                --round-trips 20 --hog-ms 30 --job-ms 60";
    // Every demo of a plain run without Python, in order, with its rows: the public names and
    // numeric fields. (The CPython rows are checked where they are measured, `tests/demos.rs`.)
    let demos = ["requests", "timers", "echo-bench", "cooperative", "offload"];
    let mut requests = rows("hand_built", "wall_ms max_in_flight iterations polls");
    requests.extend(rows("tokio", "wall_ms max_in_flight"));
    let timers = "hand_built tokio tokio_join_all tokio_join_all_unconstrained";
    let echo = "wall_ms round_trips_per_s round_trips bytes_echoed cpu_ms \
                server_cpu_us_per_round_trip server_cpu_per_s server_cpu_wait_share";
    let ticks = "longest_iteration_ms worst_tick_lateness_ms iterations wall_ms cpu_wait_share";
    let offload = "worst_tick_lateness_ms ticks ticks_during_job job_ms wall_ms job_cpu_per_s";
    let demo_rows = [
        requests,
        rows(timers, "wall_ms peak_rss_kb rss_growth_kb bytes_per_timer"),
        rows("hand_built tokio", echo),
        rows("never_awaits awaits_every_ms", ticks),
        rows("on_loop spawn_blocking process", offload),
    ];
    let reports = json_lines(&run_line(tiny));
    assert_eq!(reports.len(), demos.len(), "one line per demo");
    for (report, (demo, rows)) in reports.iter().zip(demos.into_iter().zip(demo_rows)) {
        assert_rows(report, demo, "1.7", &rows);
        for row in report["measurements"].as_array().unwrap() {
            // Where a comparison needs a core, whether it had one is measured and said.
            let needs_a_core = ["echo-bench", "cooperative", "offload"].contains(&demo);
            assert_eq!(row["idle_core"].is_boolean(), needs_a_core, "{demo}: {row}");
        }
    }
}

#[test]
fn trace_prints_one_line_per_iteration() {
    let output = run_line("requests --quiet --trace --requests 3 --delay-ms 20");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[loop] iteration 1: polled 1 task (main)"),
        "{stderr}"
    );
    assert!(stderr.contains("I/O events"));
}
