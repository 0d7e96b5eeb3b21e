//! Section 1.1: sequential requests never overlap, concurrent ones all do. The proof is the
//! embedded server's count of requests in flight, and the recorded spans.

use ch01_sync_vs_async::Sizes;
use ch01_sync_vs_async::demos::requests;
use shared::narrate::{Mode, Narrator};
use shared::trace::threads_used;

fn silent() -> Narrator {
    Narrator::with_mode(Mode::Json, false)
}

#[test]
fn sequential_legs_see_one_in_flight_and_concurrent_sees_all() {
    // 300 ms: long enough for all five to be in flight at once even on a busy machine.
    let sizes = Sizes {
        requests: 5,
        delay_ms: 300,
        ..Sizes::default()
    };
    let legs = requests::measure(&sizes, None, &silent()).unwrap();
    for leg in [&legs.sequential_blocking, &legs.sequential_async] {
        assert_eq!(leg.max_in_flight, Some(1), "{}", leg.name);
        assert_eq!(leg.requests, 5, "{}", leg.name);
        let spans = leg.requests();
        assert_eq!(spans.len(), 5, "{}", leg.name);
        for pair in spans.windows(2) {
            assert!(!pair[0].overlaps(pair[1]), "{}: {pair:?}", leg.name);
        }
    }
    let concurrent = &legs.concurrent;
    assert_eq!(concurrent.max_in_flight, Some(5));
    let spans = concurrent.requests();
    assert_eq!(spans.len(), 5);
    for a in &spans {
        for b in &spans {
            assert!(a.overlaps(b), "concurrent requests must all overlap");
        }
    }
    // All five waited on one thread, mostly not computing: concurrency without extra threads.
    let owned: Vec<_> = spans.iter().map(|s| (*s).clone()).collect();
    assert_eq!(threads_used(&owned), 1);
    for span in &spans {
        assert!(span.cpu() < span.wall() / 2, "a request waits: {span:?}");
    }
    // Speedup against the blocking leg: about 1 for the async one-by-one leg, about N for the
    // concurrent one. Coarse: a concurrent leg that waited one at a time would score about 1.
    for leg in legs.report().measurements {
        assert_eq!(leg.ideal, 5);
    }
    assert_eq!(legs.sequential_blocking.speedup, 1.0);
    assert!(
        legs.sequential_async.speedup < 1.5,
        "{:?}",
        legs.sequential_async
    );
    assert!(legs.concurrent.speedup > 2.5, "{:?}", legs.concurrent);
    // The three legs on one clock: each starts after the previous one ended.
    let on_clock: Vec<_> = [
        &legs.sequential_blocking,
        &legs.sequential_async,
        concurrent,
    ]
    .iter()
    .map(|leg| shared::trace::named(&leg.spans, "leg")[0].clone())
    .collect();
    assert!(on_clock[0].closed <= on_clock[1].opened && on_clock[1].closed <= on_clock[2].opened);
}

#[test]
fn sequential_limit_caps_only_the_sequential_legs_and_says_so() {
    let sizes = Sizes {
        requests: 6,
        delay_ms: 300,
        sequential_limit: 2,
        ..Sizes::default()
    };
    let legs = requests::measure(&sizes, None, &silent()).unwrap();
    for leg in [&legs.sequential_blocking, &legs.sequential_async] {
        assert_eq!(leg.requests, 2);
        assert_eq!(leg.requests().len(), 2);
        let note = leg.note.as_deref().unwrap();
        assert!(note.contains("2 of 6"), "{note}");
    }
    assert_eq!(legs.concurrent.requests, 6);
    assert_eq!(legs.concurrent.max_in_flight, Some(6));
}

#[test]
fn a_url_target_has_no_max_in_flight_but_a_note() {
    let server = shared::SlowServer::start().unwrap();
    let url: reqwest::Url = server.delay_url(20).parse().unwrap();
    let sizes = Sizes {
        requests: 3,
        ..Sizes::default()
    };
    let legs = requests::measure(&sizes, Some(&url), &silent()).unwrap();
    assert_eq!(legs.concurrent.max_in_flight, None);
    let note = legs.concurrent.note.as_deref().unwrap();
    assert!(note.contains("max_in_flight unknown"), "{note}");
    let line = legs.report().to_json_line();
    assert!(!line.contains("max_in_flight\""), "{line}");
    // The server we passed as --url did see them all, 3 per leg.
    assert_eq!(server.requests(), 9);
}
