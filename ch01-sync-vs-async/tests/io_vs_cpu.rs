//! Section 1.2: I/O-bound work spends wall time without CPU time; CPU-bound work spends both.
//! Alone in its own test binary, because it reads the CPU time of the whole process.

use ch01_sync_vs_async::Sizes;
use ch01_sync_vs_async::demos::io_vs_cpu;
use shared::narrate::{Mode, Narrator};

#[test]
fn io_bound_uses_far_less_cpu_per_wall_second_than_cpu_bound() {
    let sizes = Sizes {
        delay_ms: 300,
        cpu_ms: 300,
        ..Sizes::default()
    };
    let m = io_vs_cpu::measure(&sizes, None, &Narrator::with_mode(Mode::Json, false)).unwrap();
    let (io, cpu) = (m.io_bound.cpu_per_wall, m.cpu_bound.cpu_per_wall);
    println!("cpu/wall: io_bound {io:.3}, cpu_bound {cpu:.3}");
    // Coarse on purpose: other programs may take CPU from the CPU-bound step.
    assert!(
        io * 3.0 < cpu,
        "io_bound {io:.3} should be well below cpu_bound {cpu:.3}"
    );
    assert!(m.cpu_bound.rounds.unwrap() > 0);
    // The request waited for the server's delay.
    assert!(m.io_bound.wall_ms >= 300.0);
    // The same from the spans, per thread: the request's span waited, the formatting ran.
    let span = |name| m.spans.iter().find(|s| s.name == name).unwrap();
    assert!(span("io_bound").cpu() * 3 < span("io_bound").wall());
    assert!(span("cpu_bound").cpu() > span("io_bound").cpu() * 3);
}
