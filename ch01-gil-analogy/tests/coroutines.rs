//! Coroutines are lightweight threads (section 1.5): N tasks sleep at once on one OS thread; N
//! threads need N OS threads.

use ch01_gil_analogy::SelfExe;
use ch01_gil_analogy::demos::coroutines::{NAP, measure, measure_capped};
use ch01_gil_analogy::thread_cap::ThreadCap;
use shared::narrate::{Mode, Narrator};

#[test]
fn tasks_sleep_at_once_on_one_thread_and_threads_need_one_each() {
    let exe = SelfExe::at(env!("CARGO_BIN_EXE_ch01-gil-analogy"));
    let units = 50;
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
        assert!(
            row.peak_rss_kb > 0 && row.spawn_us_per_unit > 0.0,
            "{row:?}"
        );
    }
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
