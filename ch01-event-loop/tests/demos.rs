//! Section 1.7: every demo runs small, and its measurements say what the notes claim.

use std::sync::Arc;
use std::time::Duration;

use ch01_event_loop::cli::Sizes;
use ch01_event_loop::demos::{cooperative, echo_bench, requests};
use shared::legacy::SpanRecorder;
use shared::legacy::narrate::{Mode, Narrator};

fn quiet() -> Narrator {
    Narrator::with_mode(Mode::Quiet, false)
}

#[test]
fn requests_demo_runs_and_all_requests_overlap() {
    let sizes = Sizes {
        requests: 20,
        delay_ms: 100,
        ..Sizes::default()
    };
    requests::run(&quiet(), &sizes, None).unwrap();
}

#[test]
fn hand_built_requests_are_all_in_flight_at_once() {
    use ch01_event_loop::event_loop::{EventLoop, spawn};
    use ch01_event_loop::http::{Request, get};
    let server = shared::SlowServer::start().unwrap();
    let request = Request::from_url(&server.delay_url(100).parse().unwrap()).unwrap();
    let event_loop = EventLoop::new().unwrap();
    let statuses = event_loop.block_on(async {
        let handles: Vec<_> = (0..30)
            .map(|_| {
                let request = request.clone();
                spawn(async move { get(&request).await.unwrap() })
            })
            .collect();
        futures::future::join_all(handles).await
    });
    assert!(statuses.into_iter().all(|status| status.unwrap() == 200));
    assert_eq!(
        server.max_in_flight(),
        30,
        "one thread, thirty waits at once"
    );
    // Far fewer iterations than requests x steps: each iteration serves many ready tasks.
    assert!(event_loop.stats().iterations < 30 * 4);
}

#[test]
fn echo_bench_servers_echo_every_round_trip() {
    let hand = echo_bench::hand_built(3, 50, false).unwrap();
    assert!(hand.wall > Duration::ZERO);
    // The client checks every echo byte for byte; the loop was woken by socket readiness.
    assert!(hand.stats.io_events > 0);
    assert!(
        hand.stats.spawned > 3,
        "an acceptor and one task per connection"
    );
    let tokio = echo_bench::with_tokio(3, 50).unwrap();
    assert!(tokio > Duration::ZERO);
}

#[test]
fn a_task_that_never_awaits_makes_one_long_iteration() {
    let hog = Duration::from_millis(80);
    let greedy =
        cooperative::run_variant(hog, false, false, &Arc::new(SpanRecorder::new())).unwrap();
    let polite =
        cooperative::run_variant(hog, true, false, &Arc::new(SpanRecorder::new())).unwrap();
    assert!(
        greedy.longest.ran >= hog,
        "the whole computation ran inside one iteration"
    );
    assert!(
        polite.longest.ran < hog / 2,
        "awaiting often splits it: {:?}",
        polite.longest.ran
    );
    assert!(greedy.worst_lateness > polite.worst_lateness);
    assert!(polite.iterations > greedy.iterations);
}

#[test]
fn cooperative_demo_runs() {
    let sizes = Sizes {
        hog_ms: 40,
        ..Sizes::default()
    };
    cooperative::run(&quiet(), &sizes).unwrap();
}
