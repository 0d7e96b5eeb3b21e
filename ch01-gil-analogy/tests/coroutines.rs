//! Coroutines are lightweight threads (section 1.5): N tasks sleep at once on one OS thread; N
//! threads need N OS threads.

use ch01_gil_analogy::SelfExe;
use ch01_gil_analogy::demos::coroutines::{NAP, measure, measure_capped};
use ch01_gil_analogy::thread_cap::ThreadCap;
use shared::narrate::{Mode, Narrator};

#[test]
fn tasks_sleep_at_once_on_one_thread_and_cost_a_tenth_of_a_thread_or_less() {
    let exe = SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"));
    // Enough units that a task's few hundred bytes add up to pages the peak memory can show, and
    // few enough threads for any machine.
    let units = 2000;
    let [threads, tasks] =
        measure(units, &exe, &Narrator::with_mode(Mode::Json, false)).expect("both ran");
    assert_eq!(
        (threads.name.as_str(), tasks.name.as_str()),
        ("os_threads", "tokio_tasks")
    );
    assert_eq!((threads.units, tasks.units), (units, units));
    assert_eq!(
        tasks.threads_used, 1,
        "every task on the one runtime thread"
    );
    assert!(
        threads.threads_used > units,
        "one OS thread per unit, plus main"
    );
    let nap_ms = NAP.as_secs_f64() * 1e3;
    for row in [&threads, &tasks] {
        // Every unit slept its whole nap, and they slept at the same time, not one after another.
        assert!(row.wall_ms >= nap_ms, "{row:?}");
        assert!(row.wall_ms < nap_ms * units as f64 / 2.0, "{row:?}");
    }
    // Lightweight: fails where a task is a thread in disguise (its own stack, a clone() each).
    // CPU time, not wall time, so other programs holding the CPU cannot blur it.
    assert!(threads.bytes_per_unit > 0.0, "{threads:?}");
    assert!(
        threads.bytes_per_unit >= 10.0 * tasks.bytes_per_unit,
        "{threads:?} {tasks:?}"
    );
    assert!(tasks.spawn_cpu_us_per_unit > 0.0, "{tasks:?}");
    assert!(
        threads.spawn_cpu_us_per_unit >= 10.0 * tasks.spawn_cpu_us_per_unit,
        "{threads:?} {tasks:?}"
    );
}

#[test]
fn threads_beyond_the_cap_are_not_started_and_the_row_says_why() {
    let exe = SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"));
    let cap = ThreadCap {
        max_threads: 20,
        reason: "a cap for this test".into(),
    };
    let [threads, tasks] =
        measure_capped(50, &cap, &exe, &Narrator::with_mode(Mode::Json, false)).expect("both ran");
    assert_eq!(
        (threads.units, tasks.units),
        (20, 50),
        "tasks are never capped"
    );
    assert!(threads.threads_used <= 21, "{threads:?}");
    let note = threads.note.expect("a capped row says so");
    assert!(
        note.contains("capped from 50 to 20") && note.contains("a cap for this test"),
        "{note}"
    );
}
