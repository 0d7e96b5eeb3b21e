//! The clocks and the span layer: what it records, on which thread, with how much CPU, and that
//! parallel recordings never mix spans. The CPython rows' plumbing: a program's answer and spans
//! come back on our clock, asyncio awaits show as waiting, a broken program is a named error.

use std::time::Duration;

use serde_json::Value;
use shared::python::{Python, Script};
// In CI a machine without python3 fails the CPython test; elsewhere it says why it checks nothing.
use shared::testing::python;
use shared::timing::{measure, process_cpu_time, thread_cpu_time};
use shared::trace::{Recording, Span, named, os_context_switches, record, threads_used};
use tracing::{Instrument as _, info_span};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn spin(how_long: Duration) {
    let until = std::time::Instant::now() + how_long;
    while std::time::Instant::now() < until {
        std::hint::black_box(0u64);
    }
}

#[test]
fn cpu_time_grows_under_a_busy_loop_in_this_thread_or_another_and_barely_under_a_sleep() {
    let (_, usage) = measure(|| spin(ms(200)));
    assert!(usage.wall >= ms(200));
    // Even on a loaded machine a busy thread gets a good share of a core.
    let cpu = usage.cpu;
    assert!(cpu >= ms(40), "cpu {cpu:?} for a 200 ms busy loop");
    // Process CPU time counts other threads too.
    let before = process_cpu_time();
    std::thread::spawn(|| spin(ms(150))).join().unwrap();
    assert!(process_cpu_time() - before >= ms(30));

    let before = thread_cpu_time();
    let (_, usage) = measure(|| std::thread::sleep(ms(300)));
    let thread_cpu = thread_cpu_time() - before;
    assert!(usage.wall >= ms(300));
    // This thread slept: it used (almost) no CPU of its own while the wall clock ran.
    assert!(thread_cpu < ms(30), "thread cpu {thread_cpu:?}");
}

#[test]
fn a_blocking_wait_shows_as_waiting_and_a_busy_loop_as_running() {
    let ((), spans) = record(|| {
        info_span!("sleep").in_scope(|| std::thread::sleep(ms(100)));
        info_span!("spin").in_scope(|| spin(ms(100)));
    });
    let (sleep, busy) = (named(&spans, "sleep")[0], named(&spans, "spin")[0]);
    assert!(sleep.cpu() < ms(20), "{sleep:?}");
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
                scope.spawn(move || info_span!("worker", i).in_scope(|| spin(ms(5))));
            }
        })
    });
    let workers = named(&spans, "worker");
    assert_eq!((workers.len(), spans.len()), (3, 3));
    let mut labels: Vec<_> = workers.iter().map(|s| s.label.as_str()).collect();
    labels.sort_unstable();
    assert_eq!(labels, ["worker 0", "worker 1", "worker 2"]);
    assert_eq!(threads_used(&spans), 3);
    let one_run = |s: &&Span| s.runs.len() == 1 && s.runs[0].thread_id == s.thread_id;
    assert!(workers.iter().all(one_run), "{workers:?}");
}

#[tokio::test]
async fn an_async_task_that_is_not_polled_is_open_but_not_entered() {
    let recording = Recording::start();
    let task = async { tokio::time::sleep(ms(100)).await }.instrument(info_span!("task"));
    tokio::spawn(task).await.unwrap();
    let spans = recording.finish();
    let task = named(&spans, "task")[0];
    assert!(task.wall() >= ms(100));
    // Polled when spawned, when the timer fired, and to drop it; never in the 100 ms between.
    let entered: Duration = task.runs.iter().map(|run| run.end - run.start).sum();
    assert!(entered < task.wall() / 2, "{task:?}");
    assert!(task.runs.len() >= 2);
}

#[test]
fn recordings_take_turns_so_parallel_tests_never_mix_their_spans() {
    let mine = |i| {
        let recording = Recording::start();
        for _ in 0..20 {
            info_span!("mine", i).in_scope(|| spin(Duration::from_micros(100)));
        }
        recording.finish()
    };
    let threads = [0, 1, 2, 3].map(|i| std::thread::spawn(move || mine(i)));
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
            std::thread::sleep(ms(1));
        }
        info_span!("step").in_scope(|| ());
    });
    assert!(os_context_switches(&spans) >= 5, "{spans:?}");
}

const TASKS: Script = Script::new(
    "tasks.py",
    r#"
import asyncio
async def wait_then_count(n):
    await asyncio.sleep(0.05)      # waiting: no CPU
    return sum(range(n))           # running
async def main():
    return await asyncio.gather(*(traced("task", wait_then_count(300_000), i=i) for i in range(2)))
answer({"sums": asyncio.run(main()), "args": ARGS})
"#,
);

#[test]
fn a_python_program_answers_with_its_spans_on_our_clock_and_a_broken_one_is_an_error_naming_it() {
    // `--no-python` leaves the rows out and says why, with or without a python3.
    let absent = Python::find(true).unwrap_err();
    assert_eq!(absent.to_string(), "CPython rows left out (--no-python)");
    let Some(python) = python() else { return };
    let before = shared::trace::now();
    let finished = python.run::<Value>(&TASKS, &["x".into()]).unwrap();
    let after = shared::trace::now();
    assert_eq!(finished.result["args"][0], "x");
    assert_eq!(finished.spans.len(), 2);
    for span in &finished.spans {
        // Wrong clock (Unix time, or not moved onto ours): the span lands outside the run.
        assert!(before <= span.opened && span.closed <= after, "{span:?}");
        assert!(span.label.starts_with("task "));
        // An asyncio task is stepped before and after its sleep, and the 50 ms it awaited is not
        // CPU time: timed as one stretch, it would have one run.
        assert!(span.runs.len() >= 2, "{span:?}");
        assert!(span.wall() >= ms(50));
        assert!(span.cpu() < span.wall(), "{span:?}");
    }
    // Both tasks were open at once: gather runs them concurrently.
    assert!(finished.spans[0].overlaps(&finished.spans[1]));

    let broken = Script::new("broken.py", "raise SystemExit('the listing broke')");
    let error = python.run::<u64>(&broken, &[]).unwrap_err().to_string();
    let names_it = error.contains("broken.py") && error.contains("the listing broke");
    assert!(names_it, "{error}");
    let silent = Script::new("silent.py", "pass");
    let error = python.run::<u64>(&silent, &[]).unwrap_err().to_string();
    assert!(error.contains("did not report a result"), "{error}");
}
