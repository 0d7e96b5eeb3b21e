//! Section 1.1: sequential requests never overlap, concurrent ones all do (by the server's count
//! and the spans); a main task keeps working beside a background task and is told when it ends.

use ch01_sync_vs_async::Sizes;
use ch01_sync_vs_async::demos::background;
use ch01_sync_vs_async::demos::requests::{self, Leg};
use shared::trace::{named, threads_used};

/// The server saw one request at a time, and no two of the leg's request spans overlap.
fn one_at_a_time(leg: &Leg) -> bool {
    let spans = leg.requests();
    leg.max_in_flight == Some(1) && spans.windows(2).all(|pair| !pair[0].overlaps(&pair[1]))
}

/// The server saw all `n` at once, and every request span overlaps every other.
fn all_at_once(leg: &Leg, n: u64) -> bool {
    let spans = leg.requests();
    let overlapping = spans.iter().all(|a| spans.iter().all(|b| a.overlaps(b)));
    leg.max_in_flight == Some(n) && spans.len() as u64 == n && overlapping
}

#[test]
fn sequential_legs_see_one_in_flight_and_concurrent_sees_all() {
    // 300 ms: long enough for all five to be in flight at once even on a busy machine.
    let legs = requests::measure(&Sizes::from_flags("--requests 5 --delay-ms 300")).unwrap();
    let python = shared::testing::python().is_some() as usize;
    assert_eq!(legs.len(), 3 + 3 * python, "{legs:?}");
    // Blocking, async one by one, all at once: in Rust, then in CPython.
    for three in legs.chunks(3) {
        let [blocking, sequential, together] = [0, 1, 2].map(|i| &three[i]);
        assert!(all_at_once(together, 5), "{together:?}");
        for one_by_one in [blocking, sequential] {
            assert_eq!(one_by_one.requests, 5, "{}", one_by_one.name);
            assert!(one_at_a_time(one_by_one), "{one_by_one:?}");
            // Negative controls: each check fails on the other kind of leg.
            assert!(!one_at_a_time(together) && !all_at_once(one_by_one, 5));
        }
        // All five waited on one thread, mostly not computing: concurrency without extra threads.
        let spans = together.requests();
        assert_eq!(threads_used(&spans), 1, "{}", together.name);
        let busy = spans.iter().find(|span| span.cpu() >= span.wall() / 2);
        assert!(busy.is_none(), "a request waits: {busy:?}");
    }
    // Speedup against the blocking leg: about 1 for the async one-by-one leg, about N for the
    // concurrent one. Coarse: a concurrent leg that waited one at a time would score about 1.
    assert_eq!(legs[0].speedup, 1.0);
    assert!(legs[1].speedup < 1.5, "{:?}", legs[1]);
    assert!(legs[2].speedup > 2.5, "{:?}", legs[2]);
    // The legs on one clock: each starts after the previous one ended.
    for pair in legs.windows(2) {
        let [a, b] = [0, 1].map(|i| named(&pair[i].spans, "leg")[0]);
        assert!(a.closed <= b.opened, "{a:?} {b:?}");
        assert_eq!((pair[0].ideal, pair[1].ideal), (5, 5));
    }
}

#[test]
fn sequential_limit_caps_only_the_sequential_legs_and_says_so() {
    let sizes = Sizes::from_flags("--requests 6 --delay-ms 300 --sequential-limit 2");
    let legs = requests::measure(&sizes).unwrap();
    for leg in &legs[..2] {
        assert_eq!((leg.requests, leg.ideal), (2, 6));
        assert_eq!(leg.requests().len(), 2);
        let note = leg.note.as_deref().unwrap();
        assert!(note.contains("2 of 6"), "{note}");
    }
    assert_eq!((legs[2].requests, legs[2].max_in_flight), (6, Some(6)));
}

#[test]
fn a_url_target_has_no_max_in_flight_but_a_note() {
    let server = shared::SlowServer::start().unwrap();
    let mut sizes = Sizes::from_flags("--requests 3");
    sizes.url = Some(server.delay_url(20).parse().unwrap());
    let legs = requests::measure(&sizes).unwrap();
    assert_eq!(legs[2].max_in_flight, None);
    let note = legs[2].note.as_deref().unwrap();
    assert!(note.contains("max_in_flight unknown"), "{note}");
    let line = serde_json::to_string(&legs).unwrap();
    assert!(!line.contains("max_in_flight\""), "{line}");
    // The server we passed as --url did see them all, 3 per leg (the CPython legs' too).
    assert_eq!(server.requests(), 3 * legs.len() as u64);
}

#[test]
fn main_ticks_happen_while_the_background_task_runs() {
    let rows = background::measure(&Sizes::from_flags("--background-ms 600")).unwrap();
    let python = shared::testing::python().is_some();
    assert_eq!(rows.len(), 1 + python as usize, "{rows:?}");
    // Each row: the main task ticked while the background task ran, and had its result at once.
    for measured in &rows {
        assert!(measured.main_ticks > 0);
        assert_eq!(measured.status, 200);
        let task = named(&measured.spans, "background task");
        let ticks = named(&measured.spans, "main task");
        assert_eq!(task.len(), 1);
        assert_eq!(ticks.len() as u64, measured.main_ticks);
        // The first tick comes a tick after the start, not at once: the main task had its own
        // work to pace, not a result to check.
        assert!(ticks[0].opened >= task[0].opened + std::time::Duration::from_millis(50));
        // Every tick happened while the background task was still open: the main task was not
        // blocked by it.
        assert!(ticks.iter().all(|tick| task[0].contains(tick)));
        // The background task spent its time waiting, not computing.
        assert!(task[0].cpu() < task[0].wall() / 2);
        // The notification: the main task had the result right after the task ended, not at its
        // next tick. A main task that checked for the result only when it ticked (polling) would
        // learn of it up to a whole tick late; 600 ms is a multiple of the 100 ms tick, so it
        // would be nearly a whole tick late here.
        assert_eq!(measured.tick_every_ms, 100.0);
        let notified = measured.notified_after_ms;
        assert!(notified < measured.tick_every_ms / 2.0, "{notified:.1} ms");
        assert_eq!(measured.threads_used, 1);
    }
}
