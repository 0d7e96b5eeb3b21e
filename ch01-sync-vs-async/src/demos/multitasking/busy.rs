//! Section 1.3: the CPU-bound work every multitasking demo runs: spin for a while.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// One small piece of CPU work: a few microseconds, so a thread can notice between two pieces
/// that it was off the CPU.
pub fn chunk() {
    let mut sum = 0u64;
    for i in 0..200u64 {
        sum = black_box(sum.wrapping_add(i));
    }
    black_box(sum);
}

/// Keeps the CPU busy for `how_long` of wall time, never yielding: bounded by the clock.
pub fn spin_for(how_long: Duration) {
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        chunk();
    }
}
