//! Section 1.2: I/O-bound work spends wall time without CPU time; CPU-bound work spends both; and
//! "bound" names the limiting factor: change it and the time changes, change the other and it
//! does not. Alone in its own test binary, because it reads the CPU time of the whole process.

use ch01_sync_vs_async::Sizes;
use ch01_sync_vs_async::demos::io_vs_cpu;

#[test]
fn io_bound_waits_cpu_bound_computes_and_each_follows_its_limiting_factor() {
    let sizes = Sizes {
        delay_ms: 300,
        cpu_ms: 200,
        ..Sizes::default()
    };
    let m = io_vs_cpu::measure(&sizes).unwrap();
    // Every row of the table is in the report, in the order measured.
    let names: Vec<_> = m.steps.iter().map(|s| s.name).collect();
    let order = "io_bound cpu_bound io_bound_half_delay io_bound_busy_cpu cpu_bound_fixed_work \
                 cpu_bound_half_work cpu_bound_busy_cpu python_io_bound python_cpu_bound";
    let shown = if names.len() > 7 { 9 } else { 7 }; // the last two only with python3
    let expected: Vec<_> = order.split(' ').take(shown).collect();
    assert_eq!(names, expected);
    let step = |name| m.step(name).unwrap();
    let [io, cpu] = ["io_bound", "cpu_bound"].map(|name| step(name).cpu_per_wall);
    println!("cpu/wall: io_bound {io:.3}, cpu_bound {cpu:.3}");
    // The request's whole process used a small part of a CPU while it waited; a client that
    // spun on its socket would use all of one.
    assert!(io < 0.25, "io_bound used {io:.3} CPU-seconds per second");
    // The request waited for the server's delay (a server that ignored it would fail this).
    assert!(step("io_bound").wall_ms >= 300.0);
    // The same per thread, from the spans: the request's span waited, the formatting ran. Per
    // thread, because other programs may take the CPU from the formatting (on a busy machine
    // it gets a fifth of a CPU or less) but can only ever lower the request's share.
    let span = |name| m.spans.iter().find(|s| s.name == name).unwrap();
    let per_wall = |s: &shared::Span| s.cpu().as_secs_f64() / s.wall().as_secs_f64();
    let (io_span, cpu_span) = (span("io_bound"), span("cpu_bound"));
    let (io_x, cpu_x) = (per_wall(io_span), per_wall(cpu_span));
    assert!(io_x * 3.0 < cpu_x, "{io_span:?} {cpu_span:?}");
    assert!(cpu_span.cpu() > io_span.cpu() * 3);
    // The same split in CPython (its process may run other threads too, so per wall second of
    // its spans): a listing 1.1 whose request spun, or whose formatting slept, would fail this.
    if shared::testing::python().is_some() {
        let (io, cpu) = (step("python_io_bound"), step("python_cpu_bound"));
        assert!(io.cpu_per_wall * 3.0 < cpu.cpu_per_wall, "{io:?} {cpu:?}");
        let waited_and_computed = io.wall_ms >= 300.0 && cpu.rounds > Some(0);
        assert!(waited_and_computed, "{io:?} {cpu:?}");
    }

    // Changing the limiting factor changes the time; changing the other does not.
    let [io, _, half_delay, busy_io, fixed, half, busy] =
        [0, 1, 2, 3, 4, 5, 6].map(|i| &m.steps[i]);
    assert_eq!(half_delay.delay_ms, Some(150));

    // I/O-bound: half the server's delay, about half the time (a request that did not wait for
    // the server, or waited a fixed time, would fail this) ...
    let faster = half_delay.wall_ms < 0.8 * io.wall_ms;
    assert!(faster, "{half_delay:?} vs {io:?}");
    // ... while a CPU made busier leaves it alone: it still waits the full delay, not more than
    // a little longer (a step that needed the CPU while it waited would be slowed like the CPU
    // step below).
    assert!(busy_io.wall_ms >= 300.0 && busy_io.wall_ms < 1.5 * io.wall_ms.max(300.0));
    // The spinner really was busy on that CPU meanwhile (else the row shows nothing).
    assert!(busy_io.spinner_cpu_ms.unwrap() > 0.0);

    // CPU-bound: half the rounds, about half the CPU time (work that did not depend on the
    // number of rounds would fail this); CPU time, because wall time also depends on what
    // other programs do meanwhile.
    assert_eq!(half.rounds, fixed.rounds.map(|r| r / 2));
    assert!(half.cpu_ms < 0.8 * fixed.cpu_ms, "{half:?} vs {fixed:?}");
    assert!(half.cpu_ms > 0.25 * fixed.cpu_ms, "{half:?} vs {fixed:?}");
    // A spinner on the same CPU: the same rounds need about the same CPU time, but the OS
    // shares the CPU fairly, so the step gets at most about half of it (less when other
    // programs want it too) and takes longer. Its wall time covers its own CPU time and the
    // spinner's, one after the other. With the spinner on another core (no pinning), on an idle
    // machine the last two would fail.
    assert!(busy.cpu_ms > 0.6 * fixed.cpu_ms && busy.cpu_ms < 1.6 * fixed.cpu_ms);
    let spun = busy.spinner_cpu_ms.unwrap();
    assert!(busy.cpu_per_wall < 0.75, "{busy:?}");
    assert!(busy.wall_ms >= 0.9 * (busy.cpu_ms + spun), "{busy:?}");
    assert!(spun > 0.0);

    // Only the busy_cpu rows had a spinner beside them: the others ran alone on their CPU.
    let spinners = shared::trace::named(&m.limits, "spinner");
    // The cpu_bound rows ran in slices, taking turns: each slice counts.
    for step in &m.steps[2..7] {
        let label = format!("leg {}", step.name);
        let slices: Vec<_> = m.limits.iter().filter(|s| s.label == label).collect();
        assert!(!slices.is_empty(), "{label}");
        for leg in slices {
            let beside = spinners.iter().any(|s| s.overlaps(leg));
            assert_eq!(beside, step.name.ends_with("busy_cpu"), "{}", step.name);
        }
    }
}

#[test]
fn format_headers_writes_one_key_value_line_per_header() {
    let headers = [("a".to_string(), "1".to_string()), ("b".into(), "2".into())];
    assert_eq!(io_vs_cpu::format_headers(&headers), "a: 1\nb: 2");
}
