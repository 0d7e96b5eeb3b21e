//! The real binary: `--help`, `--json`, bad input, and `serve` with real sockets.

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};

use ch01_sockets::demos::echo_server::ServerKind;
use serde_json::Value;
use shared::testing;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ch01-sockets");

/// Runs the binary with these space-separated arguments.
fn run(args: &str) -> Output {
    testing::run(BIN, &args.split_whitespace().collect::<Vec<_>>())
}

/// Starts the binary with these space-separated arguments, its standard streams piped to us.
fn spawn(args: &str) -> Child {
    let mut command = Command::new(BIN);
    command.args(args.split_whitespace()).stdin(Stdio::piped());
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.spawn().unwrap()
}

#[test]
fn help_lists_every_demo_with_its_section() {
    let output = run("--help");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let demos = "blocking busy-poll readiness echo-server serve [1.6]";
    let flags = "--json --quiet --no-timeline --clients --delay-ms";
    for word in demos.split_whitespace().chain(flags.split_whitespace()) {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
}

#[test]
fn json_output_has_the_documented_names_and_fields() {
    let lines = run("--json --delay-ms 20 --tick-ms 5 --clients 3 --lines 2");
    // Every row and every field, in order, `name` first: scripts read these names.
    // Numbers, but for the yes-or-no fields (`?`): whether the claim could show on this run.
    let echo = "wall_ms threads max_concurrent_clients round_trips_per_sec server_context_switches \
                context_switches_per_round_trip server_voluntary_switches \
                voluntary_switches_per_round_trip all_clients_at_once?";
    let readiness = "wall_ms cpu_ms wakeups readable_events ticks_while_waiting \
                     cpu_percent_of_busy_poll";
    let busy = "busy_poll(wall_ms cpu_ms would_block_count ticks_while_waiting \
                cpu_percent_of_wall idle_core?)";
    // Listing 3.7 in CPython, where there is a python3 (`--no-python` leaves it out, below).
    let python = shared::python::Python::find(false).is_ok();
    let servers = "one_at_a_time thread_per_connection single_thread_nonblocking".split(' ');
    let servers = servers.chain(python.then_some("python_selector"));
    let servers: Vec<String> = servers.map(|name| format!("{name}({echo})")).collect();
    let expected = [
        "blocking 1.6: blocking(wall_ms ticks_while_blocked other_thread_ticks)".to_string(),
        format!("busy-poll 1.6: {busy}"),
        format!("readiness 1.6: readiness({readiness}) readiness_with_ticker({readiness}) {busy}"),
        format!("echo-server 1.6: {}", servers.join(" ")),
    ];
    let row = |demo: &str, row: &Value| {
        let mut fields = row.as_object().unwrap().iter();
        assert_eq!(fields.next().unwrap().0, "name", "{demo}: {row}");
        let fields = fields.map(|(field, value)| match value {
            Value::Number(_) => field.clone(),
            Value::Bool(_) => format!("{field}?"),
            _ => format!("{field}={value}"),
        });
        let fields = fields.collect::<Vec<_>>().join(" ");
        format!("{}({fields})", row["name"].as_str().unwrap())
    };
    let got = testing::json_lines(&lines).into_iter().map(|line| {
        let (demo, section) = (line["demo"].as_str().unwrap(), &line["section"]);
        let rows = line["measurements"].as_array().unwrap().iter();
        let rows: Vec<String> = rows.map(|r| row(demo, r)).collect();
        format!("{demo} {}: {}", section.as_str().unwrap(), rows.join(" "))
    });
    assert_eq!(got.collect::<Vec<_>>(), expected);
}

#[test]
fn one_demo_runs_alone_sizes_work_before_or_after_its_name_no_python_leaves_its_row_out() {
    let lines = testing::json_lines(&run("--json --delay-ms 10 blocking"));
    assert_eq!(lines.len(), 1);
    let output = run("echo-server --json --no-python --clients 2 --lines 1");
    let rows = testing::json_lines(&output)[0]["measurements"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");
    assert!(testing::stderr_lines(&output)[0].contains("--no-python"));
    let output = run("echo-server --quiet --clients 2 --lines 1");
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("single_thread_nonblocking"), "{table}");
}

#[test]
fn bad_input_and_a_port_in_use_give_one_line_and_a_failing_status() {
    let assert_one_line_error = |args: &str, mentions: &str| {
        let line = testing::assert_one_line_error(&run(args), args);
        assert!(line.contains(mentions), "{args}: {line}");
    };
    assert_one_line_error("--clients 0", "--clients");
    // More clients than the one-at-a-time server's accept queue holds would hang in connect().
    assert_one_line_error("echo-server --clients 129", "1..=128");
    assert_one_line_error("--delay-ms soon", "--delay-ms");
    assert_one_line_error("no-such-demo", "no-such-demo");
    assert_one_line_error("serve --port 70000", "--port");
    assert_one_line_error("serve --port http", "--port");
    assert_one_line_error("serve --port -1", "error");
    assert_one_line_error("serve", "--port");
    assert_one_line_error("serve --port", "--port");
    assert_one_line_error("serve --port 0 --host nowhere", "--host");
    assert_one_line_error("--url http://127.0.0.1:1/ blocking", "--url");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let in_use = format!("serve --port {port}");
    assert_one_line_error(&in_use, "cannot listen on 127.0.0.1:");
}

/// A child process, killed even when an assertion fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long a client waits for an echo, or the server for its first line on standard error.
const PATIENCE: Duration = Duration::from_secs(20);

/// A client of `addr` that has sent `text`.
fn sent(addr: &str, text: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(text).unwrap();
    stream
}

/// `text` comes back on `stream`.
fn echoed(mut stream: &TcpStream, text: &[u8]) {
    let mut echo = vec![0u8; text.len()];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(echo, text);
}

/// CPU time (user + system) of a process so far: utime and stime of `/proc/PID/stat`.
#[cfg(target_os = "linux")]
fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The 12th and 13th fields after the command name (the state letter first).
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields = after_name.split_whitespace().skip(11).take(2);
    let ticks: u64 = fields.map(|f| f.parse::<u64>().unwrap()).sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// The line client `i` sends.
fn line(i: usize) -> String {
    format!("client {i:03}\n")
}

/// `count` clients of `addr` (more than it has descriptors for), each having sent its line; the
/// server's first line on standard error says why it accepts no more, naming `ulimit -n`.
fn out_of_fds(addr: &str, count: usize, stderr: &Receiver<String>) -> (Vec<TcpStream>, String) {
    let clients = (0..count).map(|i| sent(addr, line(i).as_bytes())).collect();
    let said = stderr.recv_timeout(PATIENCE).expect("a line on stderr");
    assert!(said.contains("out of file descriptors"), "{said}");
    assert!(said.contains("`ulimit -n` is"), "{said}");
    (clients, said)
}

/// Once the first `leave` clients leave, the others, who waited in the queue, are accepted and
/// get their lines back, in order: each one that leaves makes room for the next.
fn served_once_some_leave(mut clients: Vec<TcpStream>, leave: usize) {
    clients.drain(..leave);
    for (i, stream) in (leave..).zip(clients) {
        echoed(&stream, line(i).as_bytes());
    }
}

/// Then, stopped and continued while it sleeps in poll(), it goes on serving: the selector waits
/// again after the EINTR (fails in a world that takes EINTR for a failure of the poller: the
/// server exits, and the next client finds no one listening).
#[cfg(target_os = "linux")]
#[test]
fn out_of_file_descriptors_serve_says_so_backs_off_recovers_and_survives_a_stop_and_continue() {
    // 40 descriptors: stdio, the poller, its waker and the listener leave room for about 34
    // clients; 100 connect (the kernel queues the rest) and each sends a line.
    let started = Instant::now();
    let args = ["serve", "--port", "0"];
    let (child, _out, addr, said) = testing::start_server(BIN, &args, Some(40));
    let mut server = Killed(child);
    assert!(addr.starts_with("127.0.0.1:"));
    let pid = server.0.id();
    let (clients, first) = out_of_fds(&addr, 100, &said);
    assert!(first.contains("`ulimit -n` is 40"), "{first}");
    let cpu_before = cpu_of(pid);
    // Accepting fails with EMFILE for the clients beyond the limit, and goes on failing.
    let watched = Duration::from_millis(600);
    std::thread::sleep(watched);
    let cpu = cpu_of(pid).saturating_sub(cpu_before);
    assert!(cpu < watched / 2, "it spun: {cpu:?} of CPU in {watched:?}");
    let exited = server.0.try_wait().unwrap();
    assert!(exited.is_none(), "the server exited: {exited:?}");

    served_once_some_leave(clients, 50);
    // And it still accepts new clients.
    let storm = b"after the storm\n";
    echoed(&sent(&addr, storm), storm);

    // However often accept failed meanwhile, at most one line per second.
    let (elapsed, said) = (started.elapsed(), 1 + said.try_iter().count());
    let seconds = elapsed.as_secs_f64().ceil();
    assert!(said as f64 <= seconds + 1.0, "{said} lines in {elapsed:?}");
    // Give it time to go back to poll(). Had it not reached it, nothing is interrupted and the
    // test proves less, but never fails.
    std::thread::sleep(Duration::from_millis(300));
    stop_and_continue(pid);
    echoed(&sent(&addr, b"stop\n"), b"stop\n");
}

/// The thread-per-connection server in a child process whose descriptor limit the test lowers to
/// what it has open plus room for its listener, its stop copy and 5 clients: 14 are too many.
#[cfg(target_os = "linux")]
#[test]
fn thread_per_connection_out_of_descriptors_says_so_and_keeps_serving() {
    use std::io::BufRead as _;

    let job = serde_json::to_string(&ServerKind::ThreadPerConnection).unwrap();
    let mut child = spawn(&format!("{} {job}", shared::child::CHILD_ARG));
    let mut addr = String::new();
    let stdout = BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut addr);
    stdout.unwrap();
    let pid = child.id() as libc::pid_t;
    let open = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    let room = open.count() as u64 + 5;
    let limit = libc::rlimit {
        rlim_cur: room,
        rlim_max: room,
    };
    // SAFETY: `limit` is a valid rlimit that lives across the call; the child is ours, alive.
    let lowered = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut()) };
    assert_eq!(lowered, 0);
    let err = BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || err.map_while(Result::ok).for_each(|l| drop(tx.send(l))));

    // It says why it accepts no more (before any client leaves and makes room)...
    let (clients, _) = out_of_fds(addr.trim(), 14, &heard);
    // ...serves the clients it had...
    echoed(&clients[0], line(0).as_bytes());
    // ...and once the first seven leave, the rest are accepted and echoed.
    served_once_some_leave(clients, 7);
    // Closing its standard input ends the child.
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    let said: Vec<_> = heard.try_iter().collect();
    assert!(status.success(), "{said:?}");
}

/// Stops and continues (Ctrl-Z, then `fg`) a process of ours, not yet reaped.
#[cfg(target_os = "linux")]
fn stop_and_continue(pid: u32) {
    let pid = pid as libc::pid_t;
    // SAFETY: kill has no memory-safety preconditions; `pid` is our own child, not yet reaped.
    unsafe {
        assert_eq!(libc::kill(pid, libc::SIGSTOP), 0);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(libc::kill(pid, libc::SIGCONT), 0);
    }
}

/// Stopped and continued while it sleeps in poll(), the readiness wait goes on: Linux ends an
/// `epoll_wait` with EINTR after a stop, even without a signal handler.
#[cfg(target_os = "linux")]
#[test]
fn the_readiness_wait_survives_a_stop_and_continue() {
    let child = spawn("readiness --json --delay-ms 1500");
    // Well inside the first wait (1.5 s). Had the child not reached poll() yet, nothing is
    // interrupted and the test proves less, but never fails.
    std::thread::sleep(Duration::from_millis(500));
    stop_and_continue(child.id());
    let lines = testing::json_lines(&child.wait_with_output().unwrap());
    testing::measurement(&lines[0], "readiness_with_ticker");
}

/// `--json | head -1`: a reader that goes away early ends nothing with a panic (fails where the
/// results are printed with `println!`, which panics on a closed pipe).
#[test]
fn a_closed_standard_output_is_no_panic() {
    // Narrated and `--json` alike: each fails if one of its prints used `println!`.
    for mode in ["--no-timeline", "--json"] {
        let mut child = spawn(&format!("blocking {mode} --delay-ms 10"));
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let ok = output.status.success() && !stderr.contains("panicked");
        assert!(ok, "{mode}: {stderr}");
    }
}
