//! Section 1.6: the claims of the first three demos, as properties of the recorded spans (no
//! wall-clock thresholds), and every demo run small.

use std::io::{self, Read};
use std::time::Duration;

use ch01_sockets::demos::{blocking, busy_poll, echo_server, readiness};
use ch01_sockets::echo::ServerKind;
use ch01_sockets::echo::load::Load;
use ch01_sockets::slow_reply::REPLY;
use shared::narrate::{Mode, Narrator};
use shared::trace::named;

const DELAY: Duration = Duration::from_millis(150);
const TICK: Duration = Duration::from_millis(5);

fn quiet() -> Narrator {
    Narrator::with_mode(Mode::Json, false)
}

#[test]
fn a_blocking_read_stops_the_same_thread_ticker_but_not_another_thread() {
    let outcome = blocking::measure(DELAY, TICK, &quiet()).unwrap();
    assert_eq!(outcome.reply, REPLY);
    assert_eq!(
        outcome.ticks_while_blocked, 0,
        "nothing ran on the thread inside read()"
    );
    assert!(
        outcome.other_thread_ticks > 0,
        "the other thread kept ticking: {outcome:?}"
    );
    // The read really waited for the server: it was open for the server's whole delay, measured
    // by the server itself (a span from accept to just before the reply). The read span opened
    // before connect() and cannot close before the reply was sent, however the threads were
    // scheduled.
    let (read, server) = (outcome.read().unwrap(), outcome.server_wait().unwrap());
    assert!(read.contains(server), "{read:?}\n{server:?}");
    assert!(server.wall() >= DELAY);
    // Both tickers ticked on their own threads, the read on the main thread.
    let main_ticks = named(&outcome.spans, "ticker")
        .into_iter()
        .filter(|tick| tick.label == "ticker main")
        .collect::<Vec<_>>();
    assert!(
        main_ticks
            .iter()
            .all(|tick| tick.thread_id == read.thread_id)
    );
}

#[test]
fn a_nonblocking_read_on_an_idle_socket_returns_would_block() {
    // A listener that never sends anything (and opens no span that could land in another test's
    // recording).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut stream = busy_poll::connect_nonblocking(listener.local_addr().unwrap()).unwrap();
    let mut buffer = [0u8; 16];
    let error = stream.read(&mut buffer).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn busy_polling_keeps_the_thread_free_but_asks_again_and_again() {
    let outcome = busy_poll::measure(DELAY, TICK, &quiet()).unwrap();
    assert_eq!(outcome.reply, REPLY);
    assert!(outcome.first_read_would_block);
    assert!(outcome.would_block_count > 1, "{outcome:?}");
    assert!(
        outcome.ticks_while_waiting > 0,
        "the same thread ticked while waiting"
    );
}

#[test]
fn readiness_costs_far_less_cpu_than_busy_polling_for_the_same_wait() {
    let busy = busy_poll::measure(DELAY, TICK, &quiet()).unwrap();
    let ready = readiness::measure(DELAY, None).unwrap();
    assert_eq!(ready.reply, REPLY);
    assert!(ready.readable_events >= 1);
    // On a shared, loaded machine we insist only on a factor of 10.
    assert!(
        ready.cpu_ms * 10.0 < busy.cpu_ms,
        "readiness {} ms vs busy poll {} ms",
        ready.cpu_ms,
        busy.cpu_ms
    );
    // The wait through poll() contains the server's whole delay, and is asleep, not computing.
    let wait = &named(&ready.spans, "readiness")[0];
    let server = &named(&ready.spans, "server waits")[0];
    assert!(wait.contains(server));
    assert!(wait.cpu() * 2 < wait.wall(), "{wait:?}");
    // With a ticker, the same thread also gets to run while waiting, still cheaply.
    let ticking = readiness::measure(DELAY, Some(TICK)).unwrap();
    assert!(ticking.ticks_while_waiting > 0);
    assert!(
        ticking.wakeups > ticking.readable_events,
        "timeouts woke the thread for the ticker"
    );
}

#[test]
fn demo_runs_blocking() {
    let blocking = blocking::run(Duration::from_millis(20), TICK, &quiet()).unwrap();
    assert_eq!(blocking.name, "blocking");
    assert_eq!(blocking.ticks_while_blocked, 0);
}

#[test]
fn demo_runs_busy_poll() {
    let polled = busy_poll::run(Duration::from_millis(20), TICK, &quiet()).unwrap();
    assert_eq!(polled.name, "busy_poll");
    assert!(polled.would_block_count > 0);
}

#[test]
fn demo_runs_readiness() {
    let (alone, ticking, busy) = readiness::run(Duration::from_millis(20), TICK, &quiet()).unwrap();
    assert_eq!(
        [alone.name, ticking.name, busy.name],
        ["readiness", "readiness_with_ticker", "busy_poll"]
    );
    assert!(alone.wakeups >= 1);
    assert!(alone.cpu_percent_of_busy_poll >= 0.0);
}

#[test]
fn demo_runs_echo_server() {
    let load = Load {
        clients: 4,
        lines: 3,
        line_bytes: 20,
    };
    let runs = echo_server::run(load, &quiet()).unwrap();
    let names: Vec<&str> = runs.iter().map(|run| run.name).collect();
    assert_eq!(
        names,
        [
            "one_at_a_time",
            "thread_per_connection",
            "single_thread_nonblocking"
        ]
    );
    for run in &runs {
        assert!(run.threads >= 1, "{}", run.name);
        assert_eq!(named(&run.spans, "connection").len(), 4, "{}", run.name);
    }
    assert_eq!(runs[0].max_concurrent_clients, 1);
    assert_eq!(runs[2].max_concurrent_clients, 4);
}

// In this file, where every test that opens spans records them: a test elsewhere in the same
// process could otherwise open `connection` spans of its own during this recording.
#[test]
fn connection_spans_show_who_was_served_when_and_on_which_thread() {
    let load = Load {
        clients: 6,
        lines: 5,
        line_bytes: 32,
    };
    let run = |kind| echo_server::measure(kind, load, &quiet()).unwrap();
    let (one, threads, single) = (
        run(ServerKind::OneAtATime),
        run(ServerKind::ThreadPerConnection),
        run(ServerKind::SingleThreadNonblocking),
    );
    for run in [&one, &threads, &single] {
        assert_eq!(named(&run.spans, "connection").len(), 6, "{}", run.name);
    }
    // One at a time: each connection closes before the next one is accepted, on one thread.
    let in_line = named(&one.spans, "connection");
    assert!(in_line.windows(2).all(|pair| !pair[0].overlaps(pair[1])));
    assert_eq!(one.threads_serving(), 1);
    // A thread per connection: six threads.
    assert_eq!(threads.threads_serving(), 6);
    // One thread for all six, each connection open alongside the others.
    let side_by_side = named(&single.spans, "connection");
    assert!(
        side_by_side
            .iter()
            .all(|a| side_by_side.iter().filter(|b| a.overlaps(b)).count() > 1)
    );
    assert_eq!(single.threads_serving(), 1);
    // Every server's threads blocked (in read, or in poll) at some point of 30 round trips.
    if cfg!(target_os = "linux") {
        for run in [&one, &threads, &single] {
            assert!(run.server_context_switches > 0, "{}", run.name);
        }
    }
}
