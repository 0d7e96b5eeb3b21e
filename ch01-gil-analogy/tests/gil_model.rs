//! The GIL model's claims, checked from the spans it records (section 1.5).

use std::sync::mpsc;
use std::time::Duration;

use ch01_gil_analogy::gil::{self, Gil, interpreter::Machine};
use shared::SlowServer;
use shared::legacy::{Span, SpanKind};

const INTERVAL: Duration = Duration::from_millis(1);

fn cpu_spans(spans: &[Span]) -> Vec<&Span> {
    spans.iter().filter(|s| s.kind == SpanKind::Cpu).collect()
}

/// Every pair of lock-holding spans from different threads that overlaps in time.
fn overlapping_pairs<'a>(spans: &[&'a Span]) -> Vec<(&'a Span, &'a Span)> {
    let mut pairs = Vec::new();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.task != b.task && a.overlaps(b) {
                pairs.push((*a, *b));
            }
        }
    }
    pairs
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
fn every_run_computes_the_same_values() {
    let expected = shared::workloads::fib(16);
    assert_eq!(gil::sequential(16, INTERVAL).values, [expected; 2]);
    assert_eq!(
        gil::two_threads(16, Gil::new(INTERVAL)).values,
        [expected; 2]
    );
    assert_eq!(gil::two_threads(16, Gil::disabled()).values, [expected; 2]);
    assert_eq!(gil::rayon_join(16).values, [expected; 2]);
}

#[test]
fn under_the_gil_lock_holding_spans_never_overlap() {
    let run = gil::two_threads(23, Gil::new(INTERVAL));
    let holding = cpu_spans(&run.spans);
    let tasks: std::collections::BTreeSet<&str> = holding.iter().map(|s| s.task.as_str()).collect();
    assert_eq!(tasks.len(), 2, "both threads held the lock");
    assert!(run.handoffs >= 1, "the lock changed threads at least once");
    assert_eq!(overlapping_pairs(&holding), []);
    // Each thread's own spans alternate with waits and never overlap either.
    for task in tasks {
        let own: Vec<&Span> = run.spans.iter().filter(|s| s.task == task).collect();
        for pair in own.windows(2) {
            assert!(pair[0].end <= pair[1].start, "{task}: {pair:?}");
        }
    }
}

#[test]
fn without_the_gil_both_threads_run_at_the_same_time() {
    let run = gil::two_threads(24, Gil::disabled());
    let holding = cpu_spans(&run.spans);
    assert_eq!(holding.len(), 2, "one uninterrupted span per thread");
    assert!(!overlapping_pairs(&holding).is_empty(), "{holding:?}");
    assert_eq!(run.handoffs, 0);
}

#[test]
fn the_lock_is_released_while_a_thread_waits_for_io() {
    let server = SlowServer::start().expect("server");
    let url = server.delay_url(500).parse().expect("url");
    let client = shared::workloads::blocking_http_client(&url).expect("client");
    let gil = Gil::new(INTERVAL);
    let (io_started, wait_for_io) = mpsc::channel();
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
    });
    let spans = gil.recorder().spans();
    let io_wait = spans
        .iter()
        .find(|s| s.task == "io" && s.kind == SpanKind::WaitIo)
        .expect("an I/O span");
    let cpu_inside = spans
        .iter()
        .any(|s| s.task == "cpu" && s.kind == SpanKind::Cpu && io_wait.contains(s));
    assert!(
        cpu_inside,
        "no bytecode ran during the I/O wait: {spans:#?}"
    );
}

#[test]
fn io_threads_overlap_their_requests_under_the_gil() {
    let server = SlowServer::start().expect("server");
    let url = server.delay_url(100).parse().expect("url");
    let run = gil::io_threads(3, &url, INTERVAL).expect("requests");
    assert_eq!(run.values, [200, 200, 200]);
    assert_eq!(
        server.max_in_flight(),
        3,
        "the requests overlapped at the server"
    );
    assert_eq!(overlapping_pairs(&cpu_spans(&run.spans)), []);
    server.reset();
    let run = gil::io_sequential(2, &url, INTERVAL).expect("requests");
    assert_eq!(run.values, [200, 200]);
    assert_eq!(server.max_in_flight(), 1);
}

#[test]
fn calibration_stays_in_the_allowed_range() {
    let n = gil::calibrate_fib(Duration::from_millis(10));
    assert!((10..=40).contains(&n), "{n}");
}
