//! Section 1.7: every demo runs small, and its results say what the notes claim, for the Rust
//! rows and for asyncio's (the same workload in CPython). The machine may be busy (other builds,
//! CPU hogs): delays are long enough that overlap cannot happen by luck, and no test asserts a
//! tight wall-clock bound.

use std::time::Duration;

use ch01_event_loop::cli::{Cli, Sizes};
use ch01_event_loop::demos::{cooperative, echo_bench, offload, requests, timers};
use clap::Parser as _;
use shared::Span;
use shared::child::SelfExe;
use shared::testing::python;
use shared::trace::{named, threads_used};

/// Measures with the sizes these flags give, every span recorded, one recording at a time (no
/// test's spans land in another's). The recorder's global subscriber wants every level, which
/// keeps `tracing`'s global "most verbose level anyone wants" at TRACE while the loops'
/// thread-local subscribers come and go (else events get lost). Children re-run this crate's
/// binary, not the test harness.
fn record<T>(flags: &str, measure: fn(&Sizes) -> anyhow::Result<T>) -> (T, Vec<Span>) {
    SelfExe::set_current(env!("CARGO_BIN_EXE_ch01-event-loop"));
    let sizes = Cli::parse_from(["ch01-event-loop"].into_iter().chain(flags.split(' '))).sizes;
    let (result, spans) = shared::trace::record(|| measure(&sizes));
    (result.unwrap(), spans)
}

#[test]
fn requests_demo_has_every_request_in_flight_at_once_on_every_runtime() {
    let python = python();
    let (result, mut spans) = record("--requests 20 --delay-ms 300", requests::measure);
    spans.extend(result.python_spans.clone());
    // Fails if the tasks ran one after the other (a loop that ran each task to completion).
    assert_eq!(result.asyncio.is_some(), python.is_some());
    for row in result.rows() {
        assert_eq!(row.max_in_flight, Some(20), "all 20 at once: {row:?}");
    }
    // The timeline's spans: one per request on each runtime, all open at one instant, and the
    // hand-built loop's on a single thread.
    for name in ["hand-built loop", "tokio + reqwest", "asyncio"] {
        let spans = named(&spans, name);
        if name != "asyncio" || python.is_some() {
            assert_eq!(spans.len(), 20, "{name}");
            let last_opened = spans.iter().map(|s| s.opened).max().unwrap();
            let first_closed = spans.iter().map(|s| s.closed).min().unwrap();
            assert!(last_opened < first_closed, "{name}: not all at once");
        }
    }
    let hand_built = named(&spans, "hand-built loop").into_iter().cloned();
    assert_eq!(threads_used(&hand_built.collect::<Vec<_>>()), 1);
    // Each iteration serves every ready task: the loop made far fewer iterations than the
    // three per request (connect, answer, end) of a loop that ran one task per iteration and
    // waited in between.
    let counts = result.hand_built.counts.as_ref().unwrap();
    assert!(counts.iterations < 20 * 3, "{counts:?}");
}

/// Each runtime's batch of 1 s sleeps ran in its own process (its own peak memory), and none
/// ended early. Fails if a timer fired before its deadline, or a row ran in this process.
#[test]
fn every_timers_row_sleeps_its_whole_second_in_a_process_of_its_own() {
    let python = python();
    let (timers, _) = record("--count 50", timers::measure);
    assert_eq!(timers.rows.len(), 4 + usize::from(python.is_some()));
    for row in &timers.rows {
        assert!(row.wall_ms >= 1000.0, "{row:?}");
        assert!(row.peak_rss_kb > 0, "{row:?}");
        let span = named(&timers.spans, row.name)[0];
        assert!(span.wall() >= Duration::from_secs(1), "{span:?}");
        assert_ne!(span.pid, std::process::id(), "{}", row.name);
    }
}

#[test]
fn echo_bench_servers_echo_every_byte_of_every_round_trip() {
    let python = python();
    let (bench, _) = record("--connections 3 --round-trips 50", echo_bench::measure);
    assert_eq!(bench.asyncio.is_some(), python.is_some());
    let trips = 3 * 50;
    // The client checked each echo byte for byte (or failed); the server counted what it
    // wrote back: an echo that lost or repeated bytes would count differently.
    for run in bench.rows() {
        assert_eq!(run.bytes_echoed, trips * echo_bench::MESSAGE_LEN as u64);
        assert_eq!(run.round_trips, trips);
    }
    // The hand-built loop waited for the OS to report each socket ready: a loop that spun on
    // its sockets instead, or one that woke only on timers, would count no I/O events.
    assert!(bench.hand_built.stats.as_ref().unwrap().io_events >= trips);
}

#[test]
fn cooperative_tickers_wait_for_the_whole_hog_only_when_it_never_awaits() {
    let hog = Duration::from_millis(300);
    let (result, spans) = record("--hog-ms 300", cooperative::measure);
    let [greedy, polite] = &result;
    // A ticker due during the computation waits for its end: up to one tick less than the hog.
    assert!(
        greedy.worst_lateness >= hog - cooperative::TICK * 2,
        "never awaiting: tickers only {:?} late",
        greedy.worst_lateness
    );
    assert!(greedy.longest.ran >= hog, "computed in one iteration");
    // Awaiting every millisecond, the computation gives the loop back many times: the loop
    // entered its span once per slice, and made more iterations. (How late the tickers were is
    // not asserted: on a busy machine the OS may take the loop's thread away for longer than
    // any bound a test could pick.)
    let slices = |name: &str| named(&spans, name)[0].runs.len();
    // Never awaiting: one poll (`tracing` enters the span once more to drop the future).
    assert!(slices("greedy, never awaits") <= 2);
    assert!(slices("greedy, awaits") >= 10);
    assert!(polite.iterations > greedy.iterations);
    // The timeline: while the greedy task computes, no tick runs; while the polite one does,
    // ticks keep running.
    let ticks_inside = |greedy: &str| {
        let computing = named(&spans, greedy)[0];
        let ticks = named(&spans, "ticker");
        ticks.iter().filter(|tick| computing.contains(tick)).count()
    };
    assert_eq!(ticks_inside("greedy, never awaits"), 0);
    assert!(ticks_inside("greedy, awaits") >= 3);
}

/// On the loop, the job leaves the ticker silent for its whole run; handed to a thread or a
/// process, the ticker keeps ticking; the same for asyncio's rows. The on-loop rows are the
/// control: the same check, in the world where the loop's only thread computes, must see the
/// silence.
#[test]
fn offloaded_jobs_leave_the_ticker_running_and_the_job_on_the_loop_does_not() {
    let python = python();
    let (result, mut spans) = record("--job-ms 300", offload::measure);
    spans.extend(result.spans.clone());
    let names: Vec<&str> = result.rows.iter().map(|row| row.name.as_str()).collect();
    let all = "on_loop spawn_blocking process \
               asyncio_on_loop run_in_executor_threads run_in_executor_processes";
    let expected = all.split(' ').take(if python.is_some() { 6 } else { 3 });
    assert_eq!(names, expected.collect::<Vec<_>>());
    for row in &result.rows {
        let (name, half_the_job) = (&row.name, row.job_ms / 2.0);
        let on_loop = name.ends_with("on_loop");
        if on_loop {
            // The loop's only thread computes: no tick can run until the job ends.
            assert_eq!(row.ticks_during_job, 0, "{row:?}");
            assert!(row.worst_tick_lateness_ms >= half_the_job, "{row:?}");
        } else {
            // The loop stays free: ticks keep coming all through the job. A busy machine may
            // delay a few of them, never for most of the job.
            assert!(row.ticks_during_job >= 3, "{row:?}");
            assert!(row.longest_silence_ms < half_the_job, "{row:?}");
        }
        // The timeline's spans: the job on the loop's own thread only when it runs on the
        // loop, and in another process only in asyncio's process pool (the Rust row's span is
        // on the thread that waits for its child).
        let job = named(&spans, &format!("{name} job"))[0];
        let ticker = spans.iter().find(|s| s.label == format!("ticker {name}"));
        let ticker = ticker.unwrap();
        assert_eq!(job.thread_id == ticker.thread_id, on_loop, "{name}");
        let in_a_process_pool = name == "run_in_executor_processes";
        assert_eq!(job.pid != ticker.pid, in_a_process_pool, "{name}");
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
