//! Coroutines are lightweight threads (section 1.5): N tasks sleep at once on one OS thread; N
//! threads need N OS threads.

use ch01_gil_analogy::demos::coroutines::{NAP, Sleepers, python_sleepers, sleepers};
use ch01_gil_analogy::thread_cap::{Limits, ThreadCap, cap};
use shared::child::SelfExe;
use shared::testing::python;

/// `units` sleepers as OS threads (capped by `cap`), then as tokio tasks, in child processes.
fn in_rust(units: u64, cap: &ThreadCap) -> [Sleepers; 2] {
    SelfExe::set_current(env!("CARGO_BIN_EXE_ch01-gil-analogy"));
    let (rows, _) = sleepers(units, cap, None).expect("both ran");
    let [threads, tasks] = <[Sleepers; 2]>::try_from(rows).expect("two rows");
    let names = (threads.name.as_str(), tasks.name.as_str());
    assert_eq!(names, ("os_threads", "tokio_tasks"));
    [threads, tasks]
}

#[test]
fn tasks_sleep_at_once_on_one_thread_cost_a_tenth_of_a_thread_and_are_never_capped() {
    // Enough units that a thread's pages show in the peak memory, and that the tasks' share
    // outweighs what the runtime sets up once (a few hundred KiB); few enough that even on a busy
    // machine starting the threads takes well under a nap.
    let units = 2000;
    let [threads, tasks] = in_rust(units, &cap(&Limits::read()));
    assert_eq!((threads.units, tasks.units), (units, units));
    let one_thread = tasks.threads_used;
    assert_eq!(one_thread, 1, "every task on the one runtime thread");
    // One OS thread per unit: all of them alive at once on a quiet machine (units + main). On a
    // busy one the first may finish its nap before the last starts, so at least half: tasks
    // disguised as threads would show 1.
    assert!(threads.threads_used > units / 2, "{threads:?}");
    let nap_ms = shared::timing::ms(NAP);
    for row in [&threads, &tasks] {
        // Every unit slept its whole nap, and they slept at the same time, not one after another.
        assert!(row.wall_ms >= nap_ms, "{row:?}");
        assert!(row.wall_ms < nap_ms * units as f64 / 2.0, "{row:?}");
    }
    // Lightweight: fails where a task is a thread in disguise (its own stack, a clone() each).
    // CPU time, not wall time, so other programs holding the CPU cannot blur it.
    assert!(threads.bytes_per_unit > 0.0, "{threads:?}");
    let lighter = threads.bytes_per_unit >= 10.0 * tasks.bytes_per_unit;
    assert!(lighter, "{threads:?} {tasks:?}");
    assert!(tasks.spawn_cpu_us_per_unit > 0.0, "{tasks:?}");
    let cheaper = threads.spawn_cpu_us_per_unit >= 10.0 * tasks.spawn_cpu_us_per_unit;
    assert!(cheaper, "{threads:?} {tasks:?}");
    // Threads beyond a cap are not started, and the row says why.
    let cap = ThreadCap {
        max_threads: 20,
        reason: "a cap for this test".into(),
    };
    let [threads, tasks] = in_rust(50, &cap);
    let units = (threads.units, tasks.units);
    assert_eq!(units, (20, 50), "tasks are never capped");
    assert!(threads.threads_used <= 21, "{threads:?}");
    let note = threads.note.expect("a capped row says so");
    let says_why = note.contains("capped from 50 to 20") && note.contains("a cap for this test");
    assert!(says_why, "{note}");
}

#[test]
fn asyncio_tasks_sleep_at_once_on_one_thread_and_are_lighter_than_python_threads() {
    // The same claims in CPython, with coarser ratios (a Python object for every task, an
    // interpreter thread state for every thread): fails where an asyncio task were a thread in
    // disguise. The best of three tries counts, since other programs' allocations can move a
    // process's peak memory.
    let Some(python) = python() else { return };
    let units = 1000;
    let mut tries = Vec::new();
    for _ in 0..3 {
        let finished = python_sleepers(&python, false, units).expect("asyncio tasks ran");
        let tasks = finished.result;
        let threads = python_sleepers(&python, true, units).expect("ran").result;
        let names = (tasks.name.as_str(), threads.name.as_str());
        assert_eq!(names, ("asyncio_tasks", "python_threads"));
        assert_eq!((tasks.units, tasks.threads_used), (units, 1), "{tasks:?}");
        // Counted as they ran, so a busy machine's slow starts cannot lower it; green threads
        // (all on one OS thread) would show 2.
        assert!(threads.threads_used > units, "{threads:?}");
        let nap_ms = shared::timing::ms(NAP);
        for row in [&tasks, &threads] {
            let at_once = row.wall_ms >= nap_ms && row.wall_ms < nap_ms * units as f64 / 2.0;
            assert!(at_once, "{row:?}");
        }
        // The tasks' spans: created, then asleep (waiting, not running) for the nap.
        assert_eq!(finished.spans.len(), 2, "{:?}", finished.spans);
        let asleep = &finished.spans[1];
        let slept = asleep.wall() >= NAP && asleep.cpu() < asleep.wall() / 2;
        assert!(slept, "{asleep:?}");
        let memory = threads.bytes_per_unit / tasks.bytes_per_unit.max(1.0);
        let cpu = threads.spawn_cpu_us_per_unit / tasks.spawn_cpu_us_per_unit.max(1e-3);
        if memory >= 4.0 && cpu >= 4.0 {
            return;
        }
        tries.push((memory, cpu, tasks, threads));
    }
    panic!("asyncio tasks were not 4 times lighter (memory, CPU to create): {tries:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn the_limits_are_read_from_this_machine_and_the_cap_is_half_of_what_the_tightest_leaves() {
    // (RLIMIT_NPROC, threads in use, threads-max, max_map_count, available memory): cap, why.
    let gib = Some(1 << 30);
    let all = (Some(1000), 200, Some(10_000), Some(65_530), gib);
    let cases = [
        ((Some(1000), 200, None, None, None), 400, "RLIMIT_NPROC"),
        ((None, 2000, Some(10_000), None, None), 4000, "threads-max"),
        ((None, 0, None, Some(65_530), None), 8191, "max_map_count"),
        // 1 GiB at 256 KiB a thread is 4096 threads; half of it.
        ((None, 0, None, None, gib), 2048, "1024 MiB"),
        ((None, 0, None, None, None), 10_000, "does not say"),
        // The tightest wins, and never below one thread.
        (all, 400, "RLIMIT_NPROC"),
        ((Some(100), 200, None, None, None), 1, "RLIMIT_NPROC"),
    ];
    for ((nproc, threads_in_use, threads_max, max_map_count, available_memory), max, why) in cases {
        let limits = Limits {
            nproc,
            threads_in_use,
            threads_max,
            max_map_count,
            available_memory,
        };
        let capped = cap(&limits);
        assert_eq!(capped.max_threads, max, "{limits:?}: {capped:?}");
        assert!(capped.reason.contains(why), "{capped:?}");
    }

    // The limits themselves, as this machine states them.
    let limits = Limits::read();
    let read = |path: &str| std::fs::read_to_string(path).expect(path);
    let number = |path: &str| read(path).trim().parse::<u64>().ok();
    assert_eq!(limits.threads_max, number("/proc/sys/kernel/threads-max"));
    assert_eq!(limits.max_map_count, number("/proc/sys/vm/max_map_count"));
    // This test binary alone runs a harness thread and this test's thread.
    assert!(limits.threads_in_use >= 2, "{limits:?}");
    // The first word after `name` in the text at `path`.
    let after = |path: &str, name: &str| {
        let text = read(path);
        let rest = text.lines().find_map(|l| l.strip_prefix(name)).expect(name);
        rest.split_whitespace().next().expect(name).to_string()
    };
    // The kernel's own table of this process's limits says the same (soft limit first).
    let soft = after("/proc/self/limits", "Max processes");
    assert_eq!(limits.nproc, soft.parse().ok(), "Max processes: {soft}");
    // MemAvailable moves a little between two readings, not by a factor.
    let kib = after("/proc/meminfo", "MemAvailable:");
    let expected = kib.parse::<f64>().expect("kB") * 1024.0;
    let bytes = limits.available_memory.expect("Linux says") as f64;
    let close = (bytes / expected - 1.0).abs() < 0.2;
    assert!(close, "{bytes} vs {expected}");
}
