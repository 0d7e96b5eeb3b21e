//! Why the GIL exists (section 1.5): an object is freed when its count reaches zero, and a
//! load-then-store count loses updates across threads where fetch_add does not, and where the
//! model GIL lets only one thread add at a time.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ch01_gil_analogy::demos::gil::{holding, overlapping};
use ch01_gil_analogy::demos::refcount::{
    Increment, cpython_freed, drop_references, fetch_add, freed, load_then_store, tally,
};
use ch01_gil_analogy::gil::Gil;
use shared::testing::python;
use shared::trace::record;

/// The demo's count, recorded: a recording takes every span in the process, one recording at a
/// time, so two tests never race their threads (and share the CPUs) at once.
fn count(gil: &Gil, how: Increment, threads: u64, increments: u64) -> (u64, u64) {
    record(|| ch01_gil_analogy::demos::refcount::count(gil, how, threads, increments)).0
}

#[test]
fn an_object_is_freed_exactly_when_its_last_reference_goes_in_rust_and_in_cpython() {
    let frees = AtomicU64::new(0);
    let steps = drop_references(5, &frees);
    // (count, frees) after each drop: freed at the last, once, and not before.
    assert_eq!(steps, [(4, 0), (3, 0), (2, 0), (1, 0), (0, 1)]);
    // The demo's row says the same.
    let row = freed(3);
    let row = (row.counts.as_str(), row.freed_after_drops, row.frees);
    assert_eq!(row, ("2 1 0", 3, 1));
    // In CPython the count rises and falls with the references, and the last one frees it.
    // Fails where CPython freed the object before its last reference went, or more than once,
    // or where getrefcount did not follow the references made and dropped.
    let Some(python) = python() else { return };
    let row = cpython_freed(&python, 4).expect("refcount.py ran");
    let parse = |count: &str| count.parse::<i64>().expect("a number");
    let counts: Vec<i64> = row.counts.split(' ').map(parse).collect();
    let steps: Vec<i64> = counts.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(steps, [1, 1, 1, -1, -1, -1], "{row:?}");
    let got = (row.name.as_str(), row.freed_after_drops, row.frees);
    assert_eq!(got, ("cpython_refcount", 4, 1));
}

#[test]
fn fetch_add_never_loses_an_update_nor_load_then_store_alone_or_under_the_gil_otherwise_it_does() {
    // One thread alone loses nothing, even with load-then-store: fails if the count itself were
    // wrong (an add skipped or counted twice), racing or not.
    let counted = count(&Gil::disabled(), load_then_store, 1, 200_000);
    assert_eq!(counted, (200_704, 200_704));
    // The threads run until they have interleaved, so every run loses updates: fails in a world
    // where the two threads ran one after the other (or the add were one indivisible step).
    for _ in 0..3 {
        let (added, counted) = count(&Gil::disabled(), fetch_add, 2, 200_000);
        assert!(added >= 400_000, "{added}");
        assert_eq!(counted, added);
        let (added, counted) = count(&Gil::disabled(), load_then_store, 2, 200_000);
        assert!(added >= 400_000, "{added}");
        assert!(counted < added, "no update lost: {counted} of {added}");
    }
    // Under the model GIL the same load-then-store loses nothing.
    let gil = Gil::new(Duration::from_millis(1));
    let row = tally("non_atomic_under_gil", &gil, load_then_store, 100_000);
    let (added, counted, handed) = (row.expected, row.counted, row.handoffs);
    assert!(added >= 200_000, "{added}");
    let lost = (row.lost_updates, added);
    assert_eq!(lost, (0, counted), "lost updates under the lock");
    // Both threads really took turns, and never held the lock at once.
    assert!(handed >= Some(2), "never handed over: {handed:?}");
    assert_eq!(overlapping(&holding(&row.spans)), []);
    // The negative control: the very same count with the lock taken away loses updates; there is
    // no lock to hand off, and the row says nothing about it.
    let row = tally("non_atomic", &Gil::disabled(), load_then_store, 100_000);
    let (counted, added) = (row.counted, row.expected);
    assert!(counted < added, "{counted} of {added}");
    assert_eq!(row.handoffs, None);
}
