//! The span layer: what it records, on which thread, with how much CPU, and that parallel
//! recordings in one process never see each other's spans.

use std::time::Duration;

use shared::trace::{Recording, named, os_context_switches, record, threads_used};
use tracing::{Instrument as _, info_span};

fn spin(how_long: Duration) {
    let until = std::time::Instant::now() + how_long;
    while std::time::Instant::now() < until {
        std::hint::black_box(0u64);
    }
}

#[test]
fn a_blocking_wait_shows_as_waiting_and_a_busy_loop_as_running() {
    let ((), spans) = record(|| {
        info_span!("sleep").in_scope(|| std::thread::sleep(Duration::from_millis(100)));
        info_span!("spin").in_scope(|| spin(Duration::from_millis(100)));
    });
    let sleep = named(&spans, "sleep")[0];
    let busy = named(&spans, "spin")[0];
    assert!(sleep.cpu() < Duration::from_millis(20), "{sleep:?}");
    assert!(!sleep.runs[0].was_running());
    // A busy loop gets CPU even on a loaded machine, if not all of it.
    assert!(busy.cpu() > sleep.cpu() * 2, "{busy:?}");
    assert!(sleep.closed <= busy.opened);
    // A declared wait is kept and is not part of the label.
    let ((), spans) =
        record(|| info_span!("acquire", who = "A", waiting_for = "lock").in_scope(|| ()));
    assert_eq!(spans[0].label, "acquire A");
    assert_eq!(spans[0].waiting_for.as_deref(), Some("lock"));
}

#[test]
fn spans_on_threads_the_code_spawns_itself_are_recorded_with_their_thread() {
    let ((), spans) = record(|| {
        std::thread::scope(|scope| {
            for i in 0..3 {
                scope.spawn(move || {
                    info_span!("worker", i).in_scope(|| spin(Duration::from_millis(5)))
                });
            }
        })
    });
    let workers = named(&spans, "worker");
    assert_eq!((workers.len(), spans.len()), (3, 3));
    let mut labels: Vec<_> = workers.iter().map(|s| s.label.as_str()).collect();
    labels.sort_unstable();
    assert_eq!(labels, ["worker 0", "worker 1", "worker 2"]);
    assert_eq!(threads_used(&spans), 3);
    for s in workers {
        assert!(
            s.runs.len() == 1 && s.runs[0].thread_id == s.thread_id,
            "{s:?}"
        );
    }
}

#[test]
fn an_async_task_that_is_not_polled_is_open_but_not_entered() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ((), spans) = record(|| {
        runtime.block_on(async {
            let task = tokio::spawn(
                async { tokio::time::sleep(Duration::from_millis(100)).await }
                    .instrument(info_span!("task")),
            );
            task.await.unwrap();
        })
    });
    let task = named(&spans, "task")[0];
    assert!(task.wall() >= Duration::from_millis(100));
    // Polled when spawned and when the timer fired (and entered once more to drop the future),
    // but never for the 100 ms in between.
    let entered: Duration = task.runs.iter().map(|run| run.end - run.start).sum();
    assert!(entered < task.wall() / 2, "{task:?}");
    assert!(task.runs.len() >= 2);
}

#[test]
fn recordings_take_turns_so_parallel_tests_never_mix_their_spans() {
    let recorder = |i| {
        move || {
            let recording = Recording::start();
            for _ in 0..20 {
                info_span!("mine", i).in_scope(|| spin(Duration::from_micros(100)));
            }
            recording.finish()
        }
    };
    let threads: Vec<_> = (0..4).map(|i| std::thread::spawn(recorder(i))).collect();
    for (i, thread) in threads.into_iter().enumerate() {
        let spans = thread.join().unwrap();
        assert_eq!(spans.len(), 20);
        assert!(spans.iter().all(|s| s.label == format!("mine {i}")));
    }
    // A recording that opens no span finds none left over from the others.
    let ((), spans) = record(|| ());
    assert!(spans.is_empty());
    // A closed span is counted as it closes.
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static CLOSED: AtomicU64 = AtomicU64::new(0);
    let recording = Recording::start();
    recording.on_close(|span| _ = CLOSED.fetch_add(u64::from(span.name == "request"), Relaxed));
    for i in 0..3 {
        info_span!("request", i).in_scope(|| ());
        assert_eq!(CLOSED.load(Relaxed), i + 1);
    }
    info_span!("other").in_scope(|| ());
    assert_eq!(CLOSED.load(Relaxed), 3);
    assert_eq!(recording.finish().len(), 4);
}

#[test]
#[cfg(target_os = "linux")]
fn context_switches_are_counted_per_thread_between_its_first_and_last_span() {
    // Each sleep blocks: at least one voluntary switch, also when it falls between two spans.
    let ((), spans) = record(|| {
        for _ in 0..5 {
            info_span!("step").in_scope(|| ());
            std::thread::sleep(Duration::from_millis(1));
        }
        info_span!("step").in_scope(|| ());
    });
    assert!(os_context_switches(&spans) >= 5, "{spans:?}");
}
