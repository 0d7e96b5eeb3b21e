//! Stopwatch and CPU time return what they measured.

use std::time::Duration;

use shared::timing::{Stopwatch, measure, process_cpu_time, thread_cpu_time};

fn burn(for_at_least: Duration) {
    let watch = Stopwatch::start();
    while watch.elapsed() < for_at_least {
        std::hint::black_box(0u64);
    }
}

#[test]
fn cpu_time_grows_under_a_busy_loop_in_this_thread_or_another_and_barely_under_a_sleep() {
    let (_, usage) = measure(|| burn(Duration::from_millis(200)));
    assert!(usage.wall >= Duration::from_millis(200));
    // Even on a loaded machine a busy thread gets a good share of a core.
    let cpu = usage.cpu;
    assert!(
        cpu >= Duration::from_millis(40),
        "cpu {cpu:?} for a 200 ms busy loop"
    );
    // Process CPU time counts other threads too.
    let before = process_cpu_time();
    std::thread::spawn(|| burn(Duration::from_millis(150)))
        .join()
        .unwrap();
    assert!(process_cpu_time() - before >= Duration::from_millis(30));

    let before = thread_cpu_time();
    let (_, usage) = measure(|| std::thread::sleep(Duration::from_millis(300)));
    let thread_cpu = thread_cpu_time() - before;
    assert!(usage.wall >= Duration::from_millis(300));
    // This thread slept: it used (almost) no CPU of its own while the wall clock ran.
    assert!(
        thread_cpu < Duration::from_millis(30),
        "thread cpu {thread_cpu:?}"
    );
}
