//! Why the GIL exists (section 1.5): an object is freed when its count reaches zero, and a
//! load-then-store count loses updates across threads where fetch_add does not.

use std::sync::atomic::AtomicU64;

use ch01_gil_analogy::demos::refcount::{Increment, count, drop_references, freed};

#[test]
fn an_object_is_freed_exactly_when_its_last_reference_goes() {
    let frees = AtomicU64::new(0);
    let steps = drop_references(5, &frees);
    let counts: Vec<usize> = steps.iter().map(|s| s.count).collect();
    let freed_yet: Vec<u64> = steps.iter().map(|s| s.frees).collect();
    assert_eq!(counts, [4, 3, 2, 1, 0]);
    assert_eq!(
        freed_yet,
        [0, 0, 0, 0, 1],
        "freed before the end, or more than once"
    );
    // The demo's row says the same.
    let row = freed(3);
    assert_eq!(
        (row.counts.as_str(), row.freed_after_drops, row.frees),
        ("2 1 0", 3, 1)
    );
}

#[test]
fn fetch_add_never_loses_an_update() {
    for _ in 0..5 {
        assert_eq!(count(Increment::FetchAdd, 2, 200_000), 400_000);
    }
}

#[test]
fn load_then_store_loses_updates_across_threads() {
    // Losing updates needs the two threads to interleave between a load and its store. They
    // almost always do at once; on a machine busy enough to run them one at a time, a later
    // try catches them preempted mid-update. Twenty tries without a single loss means the race
    // is not there.
    let lost_one = (0..20).any(|_| count(Increment::LoadThenStore, 2, 1_000_000) < 2_000_000);
    assert!(
        lost_one,
        "twenty runs of two racing threads never lost an update"
    );
}

#[test]
fn one_thread_alone_loses_nothing_even_with_load_then_store() {
    assert_eq!(count(Increment::LoadThenStore, 1, 200_000), 200_000);
}
