//! Section 1.1: sequential requests never overlap, concurrent ones all do. The proof is the
//! embedded server's count of requests in flight, and the recorded spans.

use ch01_sync_vs_async::Sizes;
use ch01_sync_vs_async::demos::requests;
use shared::narrate::{Mode, Narrator};

fn silent() -> Narrator {
    Narrator::with_mode(Mode::Json, false)
}

#[test]
fn sequential_legs_see_one_in_flight_and_concurrent_sees_all() {
    let sizes = Sizes {
        requests: 5,
        delay_ms: 80,
        ..Sizes::default()
    };
    let outcome = requests::measure(&sizes, None, &silent()).unwrap();
    for leg in ["sequential_blocking", "sequential_async"] {
        assert_eq!(outcome.field(leg, "max_in_flight"), Some(1.0), "{leg}");
        assert_eq!(outcome.field(leg, "requests"), Some(5.0), "{leg}");
        let spans = outcome.spans_of(leg);
        assert_eq!(spans.len(), 5, "{leg}");
        for pair in spans.windows(2) {
            assert!(!pair[0].overlaps(&pair[1]), "{leg}: {pair:?}");
        }
    }
    assert_eq!(outcome.field("concurrent", "max_in_flight"), Some(5.0));
    let spans = outcome.spans_of("concurrent");
    assert_eq!(spans.len(), 5);
    for a in spans {
        for b in spans {
            assert!(a.overlaps(b), "concurrent requests must all overlap");
        }
    }
    // All five waited on one thread: concurrency without extra threads.
    assert_eq!(ch01_sync_vs_async::outcome::threads_used(spans), 1);
    for leg in ["sequential_blocking", "sequential_async", "concurrent"] {
        assert_eq!(outcome.field(leg, "ideal"), Some(5.0));
        assert!(outcome.field(leg, "speedup").is_some());
    }
    // The three legs on one clock: each leg starts after the previous one ended.
    let legs = outcome.spans_of("the three legs on one clock");
    assert_eq!(legs.len(), 3);
    assert!(!legs[0].overlaps(&legs[1]) && !legs[1].overlaps(&legs[2]));
}

#[test]
fn sequential_limit_caps_only_the_sequential_legs_and_says_so() {
    let sizes = Sizes {
        requests: 6,
        delay_ms: 40,
        sequential_limit: 2,
        ..Sizes::default()
    };
    let outcome = requests::measure(&sizes, None, &silent()).unwrap();
    for leg in ["sequential_blocking", "sequential_async"] {
        assert_eq!(outcome.field(leg, "requests"), Some(2.0));
        let note = outcome.report.get(leg).unwrap().note.clone().unwrap();
        assert!(note.contains("2 of 6"), "{note}");
    }
    assert_eq!(outcome.field("concurrent", "requests"), Some(6.0));
    assert_eq!(outcome.field("concurrent", "max_in_flight"), Some(6.0));
}

#[test]
fn a_url_target_has_no_max_in_flight_but_a_note() {
    let server = shared::SlowServer::start().unwrap();
    let url: reqwest::Url = server.delay_url(20).parse().unwrap();
    let sizes = Sizes {
        requests: 3,
        ..Sizes::default()
    };
    let outcome = requests::measure(&sizes, Some(&url), &silent()).unwrap();
    let concurrent = outcome.report.get("concurrent").unwrap();
    assert_eq!(concurrent.get("max_in_flight"), None);
    assert!(
        concurrent
            .note
            .as_deref()
            .unwrap()
            .contains("max_in_flight unknown")
    );
    // The server we passed as --url did see them all, 3 per leg.
    assert_eq!(server.requests(), 9);
}
