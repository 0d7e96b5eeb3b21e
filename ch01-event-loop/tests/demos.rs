//! Section 1.7: every demo runs small, and its results say what the notes claim. The machine may
//! be busy (other builds, CPU hogs): delays are long enough that overlap cannot happen by luck,
//! and no test asserts a tight wall-clock bound.

use std::time::Duration;

use ch01_event_loop::cli::Sizes;
use ch01_event_loop::demos::echo_bench::Watch;
use ch01_event_loop::demos::offload::Place;
use ch01_event_loop::demos::{cooperative, echo_bench, offload, requests};
use shared::narrate::{Mode, Narrator};
use shared::trace::{named, record, threads_used};

fn quiet() -> Narrator {
    steady_tracing();
    Narrator::with_mode(Mode::Quiet, false)
}

/// Tests run in parallel, each loop with its own thread-local subscriber. `tracing` keeps one
/// global "most verbose level anyone wants" and recomputes it as subscribers come and go; two
/// threads doing so at once can leave it lower than a live subscriber wants, and its events are
/// lost. The global subscriber of the span recorder wants everything, which keeps that level at
/// TRACE. Every test here that opens spans records them (one recording at a time), so no test's
/// spans land in another's recording.
fn steady_tracing() {
    shared::trace::install();
}

#[test]
fn requests_demo_has_every_request_in_flight_at_once_on_both_runtimes() {
    let sizes = Sizes {
        requests: 20,
        delay_ms: 300,
        ..Sizes::default()
    };
    let result = requests::measure(&sizes, &quiet()).unwrap();
    // Fails if the tasks ran one after the other (a loop that ran each task to completion).
    for (name, row) in [("hand_built", &result.hand_built), ("tokio", &result.tokio)] {
        assert_eq!(row.max_in_flight, Some(20), "{name}: all 20 at once");
    }
    // The timeline's spans: one per request on each runtime, all open at one instant, and the
    // hand-built loop's on a single thread.
    for (row, name) in [
        (&result.hand_built, "hand-built loop"),
        (&result.tokio, "tokio + reqwest"),
    ] {
        let spans = named(&row.spans, name);
        assert_eq!(spans.len(), 20, "{name}");
        let last_opened = spans.iter().map(|s| s.opened).max().unwrap();
        let first_closed = spans.iter().map(|s| s.closed).min().unwrap();
        assert!(
            last_opened < first_closed,
            "{name}: not all in flight at once"
        );
    }
    assert_eq!(threads_used(&result.hand_built.spans), 1);
    // Each iteration serves every ready task: the loop made far fewer iterations than the
    // three per request (connect, answer, end) of a loop that ran one task per iteration and
    // waited in between.
    let counts = &result.hand_built.counts;
    assert!(counts.iterations < 20 * 3, "{counts:?}");
}

#[test]
fn echo_bench_servers_echo_every_byte_of_every_round_trip() {
    steady_tracing();
    let (connections, round_trips) = (3, 50);
    let expected_bytes = connections * round_trips * echo_bench::MESSAGE_LEN as u64;
    let (runs, _) = record(|| {
        [
            echo_bench::hand_built(connections, round_trips, Watch::Counts).unwrap(),
            echo_bench::with_tokio(connections, round_trips).unwrap(),
        ]
    });
    // The client checked each echo byte for byte (or failed); the server counted what it
    // wrote back: an echo that lost or repeated bytes would count differently.
    for run in &runs {
        assert_eq!(run.server_echoed, expected_bytes);
    }
    // The hand-built loop waited for the OS to report each socket ready: a loop that spun on
    // its sockets instead, or one that woke only on timers, would count no I/O events.
    assert!(runs[0].stats.io_events >= connections * round_trips);
}

#[test]
fn cooperative_tickers_wait_for_the_whole_hog_only_when_it_never_awaits() {
    let sizes = Sizes {
        hog_ms: 300,
        ..Sizes::default()
    };
    let hog = Duration::from_millis(sizes.hog_ms);
    let result = cooperative::measure(&sizes).unwrap();
    let (greedy, polite) = (&result.never_awaits, &result.awaits_every_ms);
    // A ticker due during the computation waits for its end: up to one tick less than the hog.
    assert!(
        greedy.worst_lateness >= hog - cooperative::TICK * 2,
        "never awaiting: tickers only {:?} late",
        greedy.worst_lateness
    );
    assert!(
        greedy.longest.ran >= hog,
        "the computation ran in one iteration"
    );
    // Awaiting every millisecond, the computation gives the loop back many times: the loop
    // entered its span once per slice, and made more iterations. (How late the tickers were is
    // not asserted: on a busy machine the OS may take the loop's thread away for longer than
    // any bound a test could pick.)
    let slices =
        |run: &cooperative::CooperativeRun, name: &str| named(&run.spans, name)[0].runs.len();
    // Never awaiting: one poll (`tracing` enters the span once more to drop the future).
    assert!(slices(greedy, "greedy, never awaits") <= 2);
    assert!(slices(polite, "greedy, awaits") >= 10);
    assert!(polite.iterations > greedy.iterations);
    // The timelines: while the greedy task computes, no tick runs; while the polite one does,
    // ticks keep running.
    let ticks_inside = |run: &cooperative::CooperativeRun, greedy: &str| {
        let computing = named(&run.spans, greedy)[0];
        let (from, to) = (computing.opened, computing.closed);
        let ticks = named(&run.spans, "ticker");
        ticks
            .iter()
            .filter(|tick| tick.opened > from && tick.closed < to)
            .count()
    };
    assert_eq!(ticks_inside(greedy, "greedy, never awaits"), 0);
    assert!(ticks_inside(polite, "greedy, awaits") >= 3);
}

#[test]
fn offloaded_jobs_leave_the_ticker_running_and_the_job_on_the_loop_does_not() {
    let sizes = Sizes {
        job_ms: 300,
        ..Sizes::default()
    };
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_ch01-event-loop"));
    let result = offload::measure_with(&sizes, program).unwrap();
    for run in &result.runs {
        let job = run.job_time();
        let (during, silence) = (run.ticks_during_job(), run.longest_silence_during_job());
        let name = run.place.name();
        if run.place == Place::OnLoop {
            // The loop's only thread computes: no tick can run until the job ends.
            assert_eq!(during, 0, "{name}: {run:?}");
            assert!(run.worst_lateness >= job / 2, "{name}: {run:?}");
        } else {
            // The loop stays free: ticks keep coming all through the job. A busy machine may
            // delay a few of them, never for most of the job.
            assert!(during >= 3, "{name}: only {during} ticks in {job:?}");
            assert!(
                silence < job / 2,
                "{name}: no tick for {silence:?} of {job:?}"
            );
        }
    }
    // The timeline's spans: the job on the loop's own thread only when it runs on the loop.
    for run in &result.runs {
        let name = run.place.name();
        let job = named(&run.spans, &format!("{name} job"))[0].thread_id;
        let ticker = named(&run.spans, "ticker")[0].thread_id;
        assert_eq!(job == ticker, run.place == Place::OnLoop, "{name}");
    }
}

/// The offload job is rounds of Marsaglia's xorshift64 (shifts 13, 7, 17), summed. Fails if a
/// round were skipped or its mixing changed: every row's checksum must then still match, but
/// would no longer say that each row did these rounds of work.
#[test]
fn the_offload_job_sums_xorshift64_rounds() {
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let mut sum = 0u64;
    for rounds in 1..=64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum = sum.wrapping_add(x);
        assert_eq!(offload::cpu_job(rounds), sum, "after {rounds} rounds");
    }
    // A different amount of work gives a different checksum: a child that skipped rounds shows.
    assert_ne!(offload::cpu_job(1000), offload::cpu_job(999));
}
