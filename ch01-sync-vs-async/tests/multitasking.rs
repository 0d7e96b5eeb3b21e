//! Section 1.3: cooperative tasks take turns on one thread; a task that never yields starves the
//! other; the OS time-slices threads pinned to one CPU; threads on two CPUs run in parallel.

use std::time::Duration;

use ch01_sync_vs_async::Sizes;
use ch01_sync_vs_async::demos::multitasking::{self, STEPS, switches};
use shared::narrate::{Mode, Narrator};
use shared::trace::Span;

fn span<'a>(spans: &'a [Span], label: &str) -> &'a Span {
    spans.iter().find(|s| s.label == label).unwrap()
}

#[test]
fn the_four_kinds_of_multitasking_behave_as_the_notes_say() {
    let sizes = Sizes {
        busy_ms: 120,
        ..Sizes::default()
    };
    let m = multitasking::measure(&sizes, &Narrator::with_mode(Mode::Json, false)).unwrap();

    // Cooperative: one thread, and the two tasks' steps strictly alternate: A, B, A, B, ...
    let coop = &m.cooperative;
    assert_eq!(coop.threads_used, 1);
    let step = Duration::from_millis(sizes.busy_ms) / STEPS;
    let mut polls: Vec<_> = coop
        .spans
        .iter()
        .flat_map(|s| {
            s.runs
                .iter()
                .map(move |run| (run.start, run.end, s.label.clone()))
        })
        .collect();
    polls.sort_by_key(|poll| poll.0);
    for pair in polls.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "one thread polls one task at a time"
        );
    }
    // The polls that did a step of work (the others only found the task done, or dropped it).
    polls.retain(|(start, end, _)| *end - *start >= step / 2);
    assert_eq!(polls.len(), 2 * STEPS as usize, "{polls:?}");
    for pair in polls.windows(2) {
        assert_ne!(pair[0].2, pair[1].2, "tasks must take turns: {polls:?}");
    }

    // Starved: the polite task was not polled at all until the hog finished.
    let hog = span(&m.starved.spans, "task hog");
    let polite = span(&m.starved.spans, "task polite");
    assert!(polite.opened <= hog.opened.max(polite.opened));
    assert!(polite.first_entered().unwrap() >= hog.closed);
    let starved_ms = m.starved.starved_ms.unwrap();
    assert!(starved_ms >= hog.runs[0].cpu().as_secs_f64() * 1e3 * 0.9);
    assert_eq!(m.starved.threads_used, 1);

    // Preemptive on one core: both pinned threads progressed, were never on a CPU at the same
    // moment, and the CPU went back and forth between them: a scheduler that ran one thread to
    // the end before starting the other would switch once.
    let one_core = &m.preemptive_one_core;
    if cfg!(target_os = "linux") {
        assert!(one_core.progress_a > 0 && one_core.progress_b > 0);
        assert_eq!(one_core.threads_used, 2);
        assert_eq!(one_core.cpus_seen, 1);
        assert!(one_core.overlap_ms < one_core.wall_ms * 0.1, "{one_core:?}");
        let switched = one_core.switches.unwrap();
        assert!(
            switched >= 4,
            "the CPU switched between the threads {switched} times"
        );
        // Every hand-over of the CPU is an OS context switch.
        assert!(one_core.os_context_switches as usize >= switched / 2);
    } else {
        assert!(one_core.note.as_deref().unwrap().contains("skipped"));
    }
    assert_eq!(m.parallel.threads_used, 2);
    assert!(m.parallel.progress_a > 0 && m.parallel.progress_b > 0);
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
    for _ in 0..5 {
        let row = multitasking::parallel(Duration::from_millis(150)).unwrap();
        assert_eq!(row.cpus_seen, 2, "pinned to two CPUs");
        if row.overlap_ms > 0.0 {
            return;
        }
        overlaps.push(row.overlap_ms);
    }
    panic!("the two threads never ran at the same time: {overlaps:?}");
}

#[test]
fn switches_count_hand_overs_not_steps() {
    // The counter behind the preemption assertion: A A B B A is two hand-overs, and a run that
    // mostly waited does not count as having the CPU.
    let ms = Duration::from_millis;
    let run = |start: u64, end: u64, cpu: u64| shared::trace::Run {
        thread_id: 1,
        start: ms(start),
        end: ms(end),
        at_start: Default::default(),
        at_end: shared::timing::ThreadUsage {
            cpu: ms(cpu),
            context_switches: 0,
        },
    };
    let step = |label: &str, runs| Span {
        name: "thread".into(),
        label: label.into(),
        pid: 1,
        thread_id: 1,
        opened: ms(0),
        closed: ms(10),
        runs,
        waiting_for: None,
    };
    let spans = [
        step("A", vec![run(0, 1, 1), run(1, 2, 1)]),
        step("B", vec![run(2, 3, 1), run(3, 4, 1), run(4, 9, 1)]),
        step("A", vec![run(5, 6, 1)]),
    ];
    assert_eq!(switches(&spans), 2);
}
