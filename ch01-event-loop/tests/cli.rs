//! Section 1.7: the real binary, as a learner runs it: help, JSON output, bad input, trace.

use shared::testing::{self, Row, assert_rows, json_lines, measurement};

const BIN: &str = env!("CARGO_BIN_EXE_ch01-event-loop");
const TINY: [&str; 14] = [
    "--requests",
    "5",
    "--delay-ms",
    // Long enough that the five requests overlap even on a busy machine.
    "300",
    "--count",
    "50",
    "--connections",
    "2",
    "--round-trips",
    "20",
    "--hog-ms",
    "30",
    "--job-ms",
    "60",
];

fn run(args: &[&str]) -> std::process::Output {
    testing::run(BIN, args)
}

#[test]
fn help_lists_every_demo_with_its_section() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for demo in [
        "requests",
        "timers",
        "echo-bench",
        "cooperative",
        "offload",
        "serve",
    ] {
        assert!(help.contains(demo), "{demo} missing from --help");
    }
    assert!(help.contains("1.7"));
    assert!(
        !help.contains("timers-child") && !help.contains("offload-child"),
        "the internal subcommand stays hidden"
    );
}

const TIMERS: &[&str] = &["wall_ms", "peak_rss_kb", "rss_growth_kb", "bytes_per_timer"];
const ECHO: &[&str] = &[
    "wall_ms",
    "round_trips_per_s",
    "round_trips",
    "bytes_echoed",
    "cpu_ms",
    "server_cpu_us_per_round_trip",
    "server_cpu_per_s",
    "server_cpu_wait_share",
];
const TICKS: &[&str] = &[
    "longest_iteration_ms",
    "worst_tick_lateness_ms",
    "iterations",
    "wall_ms",
    "cpu_wait_share",
];
const OFFLOAD: &[&str] = &[
    "worst_tick_lateness_ms",
    "ticks",
    "ticks_during_job",
    "job_ms",
    "wall_ms",
    "job_cpu_per_s",
];
/// Every demo of a plain run, in order, with its rows: the public names and numeric fields.
const DEMOS: [(&str, &[Row]); 5] = [
    (
        "requests",
        &[
            (
                "hand_built",
                &["wall_ms", "max_in_flight", "iterations", "polls"],
            ),
            ("tokio", &["wall_ms", "max_in_flight"]),
        ],
    ),
    (
        "timers",
        &[
            ("hand_built", TIMERS),
            ("tokio", TIMERS),
            ("tokio_join_all", TIMERS),
            ("tokio_join_all_unconstrained", TIMERS),
        ],
    ),
    ("echo-bench", &[("hand_built", ECHO), ("tokio", ECHO)]),
    (
        "cooperative",
        &[("never_awaits", TICKS), ("awaits_every_ms", TICKS)],
    ),
    (
        "offload",
        &[
            ("on_loop", OFFLOAD),
            ("spawn_blocking", OFFLOAD),
            ("process", OFFLOAD),
        ],
    ),
];

#[test]
fn json_output_has_the_documented_names_and_fields() {
    let mut args = vec!["--json"];
    args.extend(TINY);
    let reports = json_lines(&run(&args));
    assert_eq!(reports.len(), DEMOS.len(), "one line per demo");
    for (report, (demo, rows)) in reports.iter().zip(DEMOS) {
        assert_rows(report, demo, "1.7", rows);
    }
    let field = |demo: usize, name: &str, key: &str| -> f64 {
        let value = &measurement(&reports[demo], name)[key];
        value
            .as_f64()
            .unwrap_or_else(|| panic!("{name}.{key}: {value}"))
    };
    // All five requests were in flight at once, on both runtimes.
    assert_eq!(field(0, "hand_built", "max_in_flight"), 5.0);
    assert_eq!(field(0, "tokio", "max_in_flight"), 5.0);
    // Every runtime's batch of 1 s sleeps, measured in its child: a sleep never ends early.
    for (name, _) in DEMOS[1].1 {
        assert!(field(1, name, "peak_rss_kb") > 0.0);
        assert!(field(1, name, "wall_ms") >= 1000.0, "{name}");
    }
    for name in ["hand_built", "tokio"] {
        assert!(field(2, name, "round_trips_per_s") > 0.0);
        // Whether each server had a core, measured as its wait for a CPU.
        let waited = field(2, name, "server_cpu_wait_share");
        assert!((0.0..=1.05).contains(&waited), "{name}: {waited}");
        let row = measurement(&reports[2], name);
        assert!(row["idle_core"].is_boolean(), "{name}: {row}");
    }
    assert_eq!(field(4, "on_loop", "ticks_during_job"), 0.0);
    // Whether each job had a core to itself, measured as CPU-seconds per second of the job.
    for (name, _) in DEMOS[4].1 {
        assert!(
            field(4, name, "job_cpu_per_s") > 0.0,
            "{name}: the job used CPU"
        );
        let row = measurement(&reports[4], name);
        assert!(row["idle_core"].is_boolean(), "{name}: {row}");
    }
}

fn assert_one_line_error(args: &[&str], expected: &str) {
    let line = testing::assert_one_line_error(&run(args), &format!("{args:?}"));
    assert!(line.contains(expected), "{line}");
}

#[test]
fn bad_input_gives_one_clear_line() {
    assert_one_line_error(&["timers", "--count", "-5"], "--count");
    assert_one_line_error(&["requests", "--requests", "0"], "--requests");
    assert_one_line_error(&["--requests", "many"], "--requests");
    assert_one_line_error(&["no-such-demo"], "no-such-demo");
    assert_one_line_error(&["requests", "--url", "https://127.0.0.1:1/"], "error:");
}

#[test]
fn trace_prints_one_line_per_iteration() {
    let output = run(&[
        "requests",
        "--quiet",
        "--trace",
        "--requests",
        "3",
        "--delay-ms",
        "20",
    ]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[loop] iteration 1: polled 1 task (main)"),
        "{stderr}"
    );
    assert!(stderr.contains("I/O events"));
}

#[test]
fn a_timers_child_sends_its_span_and_result_to_the_parent() {
    // The parent's span clock starts with its first recording; a child's span from before that
    // instant would be clamped to it. The demo records before it starts a child; so does this.
    let _ = shared::trace::record(|| ());
    let output = run(&["timers-child", "--runtime", "hand-built", "--count", "10"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (spans, other) = shared::trace::from_json_lines(&stdout);
    // One span around the whole batch, in the child's process, at least one sleep long.
    assert_eq!(spans.len(), 1, "{stdout}");
    assert_eq!(spans[0].label, "hand_built");
    assert_ne!(spans[0].pid, std::process::id());
    assert!(spans[0].wall() >= std::time::Duration::from_secs(1));
    // Then the result, as the last line.
    let result: serde_json::Value = serde_json::from_str(other.last().unwrap()).unwrap();
    assert!(result["wall_ms"].as_f64().unwrap() >= 1000.0);
}
