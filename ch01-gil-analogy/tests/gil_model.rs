//! The GIL model's claims, checked from the spans it records (section 1.5).

use std::sync::mpsc;
use std::time::Duration;

use ch01_gil_analogy::demos::gil::{self as demo, handoffs, holding};
use ch01_gil_analogy::gil::{Gil, interpreter::Machine};
use shared::trace::record;
use shared::{SlowServer, Span};

const INTERVAL: Duration = Duration::from_millis(1);

/// Every pair of lock-holding spans from different threads that overlaps in time.
fn overlapping_pairs<'a>(spans: &[&'a Span]) -> Vec<(&'a Span, &'a Span)> {
    let mut pairs = Vec::new();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.label != b.label && a.overlaps(b) {
                pairs.push((*a, *b));
            }
        }
    }
    pairs
}

/// The time from the first span's opening to the last one's closing.
fn extent(spans: &[Span]) -> Duration {
    let first = spans.iter().map(|s| s.opened).min().unwrap_or_default();
    let last = spans.iter().map(|s| s.closed).max().unwrap_or_default();
    last.saturating_sub(first)
}

#[test]
fn the_interpreter_computes_the_books_fib() {
    for n in 0..=22 {
        assert_eq!(
            Machine::fib(n).run(|| {}),
            shared::workloads::fib(n),
            "fib({n})"
        );
    }
}

#[test]
fn every_way_computes_the_same_values() {
    let expected = [shared::workloads::fib(16); 2];
    assert_eq!(demo::sequential(&Gil::new(INTERVAL), 16), expected);
    assert_eq!(demo::two_threads(&Gil::new(INTERVAL), 16), expected);
    assert_eq!(demo::two_threads(&Gil::disabled(), 16), expected);
    assert_eq!(demo::rayon_join(16), expected);
}

#[test]
fn under_the_gil_lock_holding_spans_never_overlap() {
    let gil = Gil::new(INTERVAL);
    let (_, spans) = record(|| demo::two_threads(&gil, 23));
    let held = holding(&spans);
    let threads: std::collections::BTreeSet<&str> = held.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(threads.len(), 2, "both threads held the lock: {threads:?}");
    assert!(
        handoffs(&spans) >= 1,
        "the lock changed threads at least once"
    );
    assert_eq!(overlapping_pairs(&held), []);
    // Some thread really waited for the lock, and said so.
    assert!(
        spans
            .iter()
            .any(|s| s.waiting_for.as_deref() == Some("lock"))
    );
}

#[test]
fn without_the_gil_both_threads_run_at_the_same_time() {
    let gil = Gil::disabled();
    let (_, spans) = record(|| demo::two_threads(&gil, 24));
    let held = holding(&spans);
    assert_eq!(held.len(), 2, "one uninterrupted span per thread");
    assert!(!overlapping_pairs(&held).is_empty(), "{held:?}");
    assert_eq!(
        handoffs(&spans),
        1,
        "only the one change from A's span to B's"
    );
}

#[test]
fn with_the_gil_on_threads_use_at_most_one_core() {
    // Only the holder runs bytecode; the others sleep on a condition variable. So all threads'
    // CPU time together stays within the run's wall time (plus a little for the hand-offs),
    // however busy the machine is.
    let gil = Gil::new(INTERVAL);
    let (_, spans) = record(|| demo::two_threads(&gil, 24));
    let cpu: Duration = spans.iter().map(Span::cpu).sum();
    let wall = extent(&spans);
    assert!(
        cpu <= wall.mul_f64(1.1) + Duration::from_millis(10),
        "{cpu:?} of CPU in {wall:?}"
    );
}

#[test]
fn the_lock_is_released_while_a_thread_waits_for_io() {
    let server = SlowServer::start().expect("server");
    let url = server.delay_url(500).parse().expect("url");
    let client = shared::workloads::blocking_http_client(&url).expect("client");
    let gil = Gil::new(INTERVAL);
    let (io_started, wait_for_io) = mpsc::channel();
    let ((), spans) = record(|| {
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut thread = gil.attach("io");
                thread.blocking_io(|| {
                    io_started.send(()).expect("the other thread listens");
                    shared::workloads::fetch_blocking(&client, &url).expect("request")
                });
            });
            wait_for_io
                .recv()
                .expect("the I/O thread started its request");
            // If the I/O thread still held the lock, this would wait the whole 500 ms.
            gil.attach("cpu").run_fib(14);
        })
    });
    let io_wait = spans
        .iter()
        .find(|s| s.label == "thread io" && s.waiting_for.as_deref() == Some("io"))
        .expect("an I/O span");
    let cpu_inside = holding(&spans)
        .iter()
        .any(|s| s.label == "thread cpu" && io_wait.contains(s));
    assert!(
        cpu_inside,
        "no bytecode ran during the I/O wait: {spans:#?}"
    );
}

#[test]
fn io_threads_overlap_their_requests_under_the_gil() {
    let server = SlowServer::start().expect("server");
    let url = server.delay_url(100).parse().expect("url");
    let client = shared::workloads::blocking_http_client(&url).expect("client");
    let gil = Gil::new(INTERVAL);
    let (statuses, spans) = record(|| demo::io_threads(&gil, &client, &url, 3));
    assert_eq!(statuses.expect("requests"), [200, 200, 200]);
    assert_eq!(
        server.max_in_flight(),
        3,
        "the requests overlapped at the server"
    );
    assert_eq!(overlapping_pairs(&holding(&spans)), []);
    server.reset();
    let statuses = demo::io_sequential(&gil, &client, &url, 2).expect("requests");
    assert_eq!(statuses, [200, 200]);
    assert_eq!(server.max_in_flight(), 1);
}

#[test]
fn real_cpython_threads_use_at_most_one_core_with_the_gil_on() {
    let Some((python, rows)) =
        ch01_gil_analogy::demos::cpython::measure(Duration::from_millis(100)).expect("python3 ran")
    else {
        eprintln!("note: no python3 on PATH, the CPython check is skipped");
        return;
    };
    if !python.gil_enabled {
        eprintln!(
            "note: python3 {} runs without its GIL, the check is skipped",
            python.version
        );
        return;
    }
    let threads = rows
        .iter()
        .find(|r| r.name == "cpython_threads")
        .expect("row");
    // Not a speed claim: CPU time cannot exceed about one core's worth of wall time when only
    // one thread at a time may run bytecode (a few ms of slack for the interpreter's start).
    assert!(
        threads.cpu_ms <= threads.wall_ms * 1.1 + 10.0,
        "CPython {}: {} ms of CPU in {} ms",
        python.version,
        threads.cpu_ms,
        threads.wall_ms
    );
}
