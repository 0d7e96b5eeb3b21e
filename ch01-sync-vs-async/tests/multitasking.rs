//! Section 1.3: tasks hand over without the OS, and one that never yields starves the other; the
//! OS time-slices threads on one CPU, a context switch per hand-over; on two they run in parallel.

use std::time::Duration;

use ch01_sync_vs_async::demos::multitasking::{self, Row, TASK_STEP, switches};
use shared::trace::{Run, Span};

/// The notes' "cooperative multitasking doesn't need context switches": the tasks handed over
/// at least five times as often as the OS switched their thread.
fn hand_overs_need_no_os_switch(row: &Row) -> bool {
    matches!(row.switches, Some(n) if n > 0 && n as u64 >= 5 * row.os_context_switches)
}

/// Preemption on one CPU: each hand-over from one thread to the other is an OS context switch.
fn every_hand_over_is_an_os_switch(row: &Row) -> bool {
    matches!(row.switches, Some(n) if n > 0 && row.os_context_switches >= n as u64)
}

#[test]
fn the_four_kinds_of_multitasking_behave_as_the_notes_say() {
    let sizes = ch01_sync_vs_async::Sizes::from_flags("--busy-ms 150");
    // On a busy machine, pinned threads may get so little of their CPU that no running step
    // of one falls between two of the other's (0 hand-overs): a few tries show them interleave.
    let interleaved = |row: &Row| !row.name.ends_with("one_core") || row.switches > Some(0);
    let measure = || multitasking::measure(&sizes).unwrap();
    let mut tries = (0..2).map(|_| measure());
    let rows = tries
        .find(|rows| rows.iter().all(interleaved))
        .unwrap_or_else(measure);
    let [coop, starved, one_core, parallel, python @ ..] = &rows[..] else {
        panic!("{rows:?}")
    };

    // Cooperative: one thread, one poll at a time, and the two tasks' turns strictly alternate
    // (a task that kept the thread for two steps in a row would fail this).
    assert_eq!(coop.threads_used, 1);
    let polls = multitasking::runs(&coop.spans, false);
    let one_at_a_time = polls
        .windows(2)
        .all(|pair| pair[0].1.end <= pair[1].1.start);
    assert!(one_at_a_time, "one thread polls one task at a time");
    // Each task's last poll only finds it done; until then, A, B, A, B...
    let steps = (Duration::from_millis(sizes.busy_ms).as_nanos() / TASK_STEP.as_nanos()) as usize;
    assert!(polls.len() >= 2 * steps, "{}", polls.len());
    let take_turns = polls[..2 * steps]
        .windows(2)
        .all(|pair| pair[0].0 != pair[1].0);
    assert!(take_turns, "tasks must take turns");
    assert!(coop.switches.unwrap() >= 2 * steps - 1);
    // Each turn spun for its step: a task's CPU time covers most of its steps' (a preempted
    // step ends early, but only one in each time slice of a millisecond or more).
    for task in &coop.spans {
        assert!(task.cpu() >= TASK_STEP * steps as u32 / 2, "{}", task.label);
    }

    // Starved: the polite task was not polled at all until the hog finished (a preemptive
    // scheduler would have given it turns meanwhile).
    let task = |label| starved.spans.iter().find(|s| s.label == label).unwrap();
    let (hog, polite) = (task("task hog"), task("task polite"));
    assert!(polite.first_entered().unwrap() >= hog.closed);
    assert!(starved.starved_ms.unwrap() >= shared::timing::ms(hog.runs[0].cpu()) * 0.9);
    assert_eq!(starved.threads_used, 1);
    assert_eq!(parallel.threads_used, 2);
    assert!(parallel.progress_a > Some(0) && parallel.progress_b > Some(0));

    // Preemptive on one core: both pinned threads progressed, were never on a CPU at the same
    // moment, and the CPU went back and forth between them: a scheduler that ran one thread to
    // the end before starting the other would count 0 hand-overs.
    if !cfg!(target_os = "linux") {
        assert!(one_core.note.as_deref().unwrap().contains("skipped"));
        return;
    }
    assert!(one_core.progress_a > Some(0) && one_core.progress_b > Some(0));
    let overlap = one_core.overlap_ms;
    assert!(overlap < Some(one_core.wall_ms * 0.1), "{one_core:?}");
    // Back and forth at least once each way; on a very busy machine the two threads may get only
    // a few milliseconds of this CPU between them, so not many more.
    let switched = one_core.switches.unwrap();
    assert!(switched >= 2, "switched {switched} times");

    // Parallel (with one CPU the demo says so in a note): threads pinned to two CPUs run at the
    // same moment. Other programs may hold one CPU a while: a few more tries let them overlap.
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        let again = || multitasking::parallel(Duration::from_millis(150)).unwrap();
        let mut tries = std::iter::once(parallel.clone()).chain((0..4).map(|_| again()));
        let overlapped = tries.any(|row| {
            assert_eq!(row.cpus_seen, Some(2), "pinned to two CPUs");
            row.overlap_ms > Some(0.0)
        });
        assert!(overlapped, "the two threads never ran at the same time");
    }

    // Task switches need no OS context switch, thread switches do; in CPython too (asyncio
    // tasks on one thread, and two Python threads pinned to one CPU).
    let mut pairs = vec![(coop, one_core)];
    if shared::testing::python().is_some() {
        pairs.push((&python[0], &python[1])); // asyncio tasks, Python threads
    }
    for (coop, one_core) in pairs {
        let counts = |row: &Row| (row.name, row.switches, row.os_context_switches);
        let (tasks, threads) = (counts(coop), counts(one_core));
        assert!(hand_overs_need_no_os_switch(coop), "{tasks:?}");
        assert!(every_hand_over_is_an_os_switch(one_core), "{threads:?}");
        // Negative controls: each check fails on the other kind of multitasking. Threads need
        // the OS for every hand-over; tasks hand over without it.
        assert!(!hand_overs_need_no_os_switch(one_core));
        assert!(!every_hand_over_is_an_os_switch(coop));
        // The rows say the same in their own field.
        assert!(coop.os_switches_per_hand_over.unwrap() <= 0.2);
        assert!(one_core.os_switches_per_hand_over.unwrap() >= 1.0);
        let threads = (coop.threads_used, one_core.threads_used, one_core.cpus_seen);
        assert_eq!(threads, (1, 2, Some(1)));
    }
}

/// A `thread` span labelled `label`, open from 0 to 20 ms, with these stretches of thread 1
/// (`start` to `end` ms, each with 1 ms on a CPU).
fn step(label: &str, runs: &[(u64, u64)]) -> Span {
    let ms = Duration::from_millis;
    let run = |&(start, end)| Run {
        thread_id: 1,
        start: ms(start),
        end: ms(end),
        at_start: Default::default(),
        at_end: shared::timing::ThreadUsage {
            cpu: ms(1),
            context_switches: 0,
        },
    };
    Span {
        name: "thread".into(),
        label: label.into(),
        pid: 1,
        thread_id: 1,
        opened: Duration::ZERO,
        closed: ms(20),
        runs: runs.iter().map(run).collect(),
        waiting_for: None,
    }
}

#[test]
fn switches_count_hand_overs_while_both_have_work_and_the_timeline_cuts_after_the_first_turns() {
    // The counter behind the preemption assertions: A A B B A, then B B once A is done: two
    // hand-overs while both threads had work left (going on with B after A's last step hands
    // nothing over), and a run that mostly waited (4..9, 1 ms of CPU) never had the CPU.
    let spans = [
        step("A", &[(0, 1), (1, 2)]),
        step("B", &[(2, 3), (3, 4), (4, 9)]),
        step("A", &[(5, 6)]),
        step("B", &[(6, 7), (7, 8)]),
    ];
    assert_eq!(switches(&spans, true), 2);
    // One thread run to completion, then the other: nothing was handed over.
    let serial = [step("A", &[(0, 1), (1, 2)]), step("B", &[(2, 3), (3, 4)])];
    assert_eq!(switches(&serial, true), 0);
    // The cooperative timeline shows only the first turns.
    let spans = [
        step("A", &[(0, 1), (2, 3), (4, 5)]),
        step("B", &[(1, 2), (3, 4)]),
    ];
    let cut = multitasking::first_turns(&spans, 3);
    assert_eq!((cut[0].runs.len(), cut[1].runs.len()), (2, 1));
    assert!(cut.iter().all(|s| s.closed == Duration::from_millis(3)));
}
