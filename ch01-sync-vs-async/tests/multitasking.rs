//! Section 1.3: cooperative tasks take turns on one thread; a task that never yields starves the
//! other; the OS time-slices pinned threads; unpinned threads run in parallel.

use ch01_sync_vs_async::Sizes;
use ch01_sync_vs_async::demos::multitasking::{
    self,
    cooperative::{HOG, POLITE},
    cpu_overlap,
};
use ch01_sync_vs_async::outcome::threads_used;
use shared::SpanKind;
use shared::narrate::{Mode, Narrator};

#[test]
fn the_four_kinds_of_multitasking_behave_as_the_notes_say() {
    let sizes = Sizes {
        busy_ms: 120,
        ..Sizes::default()
    };
    let outcome = multitasking::measure(&sizes, &Narrator::with_mode(Mode::Json, false)).unwrap();

    // Cooperative: one thread, and the two tasks strictly alternate (they switch at every yield).
    let spans = outcome.spans_of("cooperative");
    assert_eq!(spans.len(), 2 * multitasking::STEPS as usize);
    assert_eq!(threads_used(spans), 1);
    for pair in spans.windows(2) {
        assert_ne!(pair[0].task, pair[1].task, "tasks must take turns");
        assert!(
            !pair[0].overlaps(&pair[1]),
            "one thread runs one task at a time"
        );
    }
    assert_eq!(outcome.field("cooperative", "threads_used"), Some(1.0));

    // Starved: the hog's span contains no CPU span of the polite task, which only ran after it.
    let spans = outcome.spans_of("starved");
    let hog = spans.iter().find(|s| s.task == HOG).unwrap();
    let polite_cpu: Vec<_> = spans
        .iter()
        .filter(|s| s.task == POLITE && s.kind == SpanKind::Cpu)
        .collect();
    assert!(!polite_cpu.is_empty());
    assert!(
        polite_cpu
            .iter()
            .all(|s| !hog.contains(s) && s.start >= hog.end)
    );
    let starved_ms = outcome.field("starved", "starved_ms").unwrap();
    assert!(starved_ms >= hog.duration().as_secs_f64() * 1e3 * 0.9);

    // Preemptive on one core: both pinned threads progressed, never on two CPUs at once.
    let one_core = outcome.report.get("preemptive_one_core").unwrap();
    if cfg!(target_os = "linux") {
        assert!(one_core.get("progress_a").unwrap() > 0.0);
        assert!(one_core.get("progress_b").unwrap() > 0.0);
        assert_eq!(one_core.get("threads_used"), Some(2.0));
        assert_eq!(one_core.get("cpus_seen"), Some(1.0));
        let spans = outcome.spans_of("preemptive_one_core");
        // Time slices of one CPU do not overlap (a little slack for slices too short to notice).
        let overlap = cpu_overlap(spans).as_secs_f64() * 1e3;
        assert!(overlap < one_core.wall_ms * 0.1, "overlap {overlap} ms");
    } else {
        assert!(one_core.note.as_deref().unwrap().contains("skipped"));
    }

    // Parallel: two threads, both progressed.
    let spans = outcome.spans_of("parallel");
    assert_eq!(threads_used(spans), 2);
    assert!(outcome.field("parallel", "progress_a").unwrap() > 0.0);
    assert!(outcome.field("parallel", "progress_b").unwrap() > 0.0);
}

#[test]
#[cfg(target_os = "linux")]
fn parallel_threads_run_on_two_cpus_at_the_same_time() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return; // Nothing can run in parallel on one CPU; the demo says so in a note.
    }
    // Other programs may hold one of the two CPUs for a while; a few tries are enough for the
    // two threads to be running at the same moment at least once.
    let mut overlaps = Vec::new();
    for _ in 0..3 {
        let (measurement, spans) =
            multitasking::parallel(std::time::Duration::from_millis(150)).unwrap();
        assert_eq!(
            measurement.get("cpus_seen"),
            Some(2.0),
            "pinned to two CPUs"
        );
        let overlap = cpu_overlap(&spans);
        if overlap > std::time::Duration::ZERO {
            return;
        }
        overlaps.push(overlap);
    }
    panic!("the two threads never ran at the same time: {overlaps:?}");
}
