//! Section 1.7: every demo runs small, and its results say what the notes claim. The machine may
//! be busy (other builds, CPU hogs): delays are long enough that overlap cannot happen by luck,
//! and no test asserts a tight wall-clock bound.

use std::time::Duration;

use ch01_event_loop::cli::Sizes;
use ch01_event_loop::demos::echo_bench::Watch;
use ch01_event_loop::demos::offload::Place;
use ch01_event_loop::demos::{cooperative, echo_bench, offload, requests};
use shared::Span;
use shared::narrate::{Mode, Narrator};
use shared::trace::{named, record, threads_used};

/// The spans with this name, owned (for the helpers that take a slice).
fn named_owned(spans: &[Span], name: &str) -> Vec<Span> {
    named(spans, name).into_iter().cloned().collect()
}

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
    let result = requests::run(&quiet(), &sizes, None).unwrap();
    for (name, row) in [("hand_built", &result.hand_built), ("tokio", &result.tokio)] {
        assert_eq!(row.max_in_flight, Some(20), "{name}: all 20 at once");
        // Never faster than one delay: the server really waited.
        assert!(
            row.wall >= Duration::from_millis(300),
            "{name}: {:?}",
            row.wall
        );
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
    // Each iteration serves many ready tasks: far fewer iterations than requests.
    let counts = &result.hand_built.counts;
    assert!(counts.iterations < 20 * 3, "{counts:?}");
    assert!(
        counts.polls >= 40,
        "each request is polled at least twice: {counts:?}"
    );
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
    for run in runs {
        // The client checked each echo byte for byte; the server counted what it wrote back.
        assert_eq!(run.client.round_trips, connections * round_trips);
        assert_eq!(run.client.bytes_checked, expected_bytes);
        assert_eq!(run.server_echoed, expected_bytes);
    }
    // Recorded: the server's span is opened on this thread, and must not land in another
    // test's recording.
    let (hand, spans) =
        record(|| echo_bench::hand_built(connections, round_trips, Watch::Counts).unwrap());
    // The whole server ran on the loop's one thread.
    assert_eq!(named(&spans, "hand-built server").len(), 1);
    assert_eq!(threads_used(&named_owned(&spans, "hand-built server")), 1);
    // The loop was woken by socket readiness, many round trips per iteration or at least one.
    assert!(hand.stats.io_events >= connections * round_trips);
    assert!(hand.stats.polls >= connections * round_trips);
}

#[test]
fn cooperative_tickers_wait_for_the_whole_hog_only_when_it_never_awaits() {
    let sizes = Sizes {
        hog_ms: 300,
        ..Sizes::default()
    };
    let hog = Duration::from_millis(sizes.hog_ms);
    let result = cooperative::run(&quiet(), &sizes).unwrap();
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
    // Awaiting every millisecond, the tickers run between slices; only the OS's scheduling of
    // a busy machine delays them, far less than the hog.
    assert!(
        polite.worst_lateness < hog / 3,
        "awaiting often: tickers {:?} late",
        polite.worst_lateness
    );
    assert!(polite.longest.ran < hog / 3, "{:?}", polite.longest.ran);
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
    let result = offload::run_with(&quiet(), &sizes, program).unwrap();
    let places: Vec<Place> = result.runs.iter().map(|run| run.place).collect();
    assert_eq!(places, Place::ALL);
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
