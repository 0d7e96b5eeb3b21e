//! Section 1.6 benchmark: round trips per second of the three echo servers at 100 clients.
//!
//! A plain `main` (no criterion): each server gets the same load three times and we keep the best
//! run, which is the least disturbed by whatever else the machine is doing. About 10 s in total.

use ch01_sockets::demos::echo_server::round_trips_per_sec;
use ch01_sockets::echo::ServerKind;
use ch01_sockets::echo::load::Load;

const RUNS: usize = 3;

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not support.
    let load = Load {
        clients: 100,
        lines: 200,
        line_bytes: 64,
    };
    shared::fdlimit::ensure_available(2 * load.clients as u64 + 16, "the echo clients")
        .expect("file descriptors");
    println!(
        "echo servers, {} clients x {} round trips of {} bytes, best of {RUNS}",
        load.clients, load.lines, load.line_bytes
    );
    let mut best = [0.0f64; 3];
    for _ in 0..RUNS {
        let results = round_trips_per_sec(load).expect("a load run failed");
        for (slot, (_, per_sec, _)) in best.iter_mut().zip(&results) {
            *slot = slot.max(*per_sec);
        }
    }
    let baseline = best[0];
    for (kind, per_sec) in ServerKind::ALL.iter().zip(best) {
        println!(
            "{:<27} {:>10.0} round trips/s  ({:.2}x one_at_a_time)",
            kind.measurement_name(),
            per_sec,
            per_sec / baseline
        );
    }
}
