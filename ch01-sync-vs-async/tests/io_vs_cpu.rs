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
    let outcome =
        io_vs_cpu::measure(&sizes, None, &Narrator::with_mode(Mode::Json, false)).unwrap();
    let ratio = |name: &str| {
        outcome.field(name, "cpu_ms").unwrap() / outcome.field(name, "wall_ms").unwrap()
    };
    let (io, cpu) = (ratio("io_bound"), ratio("cpu_bound"));
    println!("cpu/wall: io_bound {io:.3}, cpu_bound {cpu:.3}");
    // Coarse on purpose: other programs may take CPU from the CPU-bound step.
    assert!(
        io * 3.0 < cpu,
        "io_bound {io:.3} should be well below cpu_bound {cpu:.3}"
    );
    assert!(outcome.field("cpu_bound", "rounds").unwrap() > 0.0);
    // The request waited for the server's delay.
    assert!(outcome.field("io_bound", "wall_ms").unwrap() >= 300.0);
}
