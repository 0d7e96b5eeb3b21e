//! Section 1.7: the real binary, as a learner runs it: help, JSON output, bad input, trace.

use std::process::{Command, Output};

use serde_json::Value;

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

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs")
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

#[test]
fn json_output_has_the_documented_names_and_fields() {
    let mut args = vec!["--json"];
    args.extend(TINY);
    let output = run(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let reports: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every stdout line is JSON"))
        .collect();
    let demos: Vec<&str> = reports
        .iter()
        .map(|r| r["demo"].as_str().unwrap())
        .collect();
    assert_eq!(
        demos,
        ["requests", "timers", "echo-bench", "cooperative", "offload"]
    );
    let field = |demo: usize, name: &str, key: &str| -> f64 {
        reports[demo]["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("measurement {name} missing"))[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}.{key} missing"))
    };
    for key in ["wall_ms", "max_in_flight", "iterations", "polls"] {
        field(0, "hand_built", key);
    }
    // All five requests were in flight at once, on both runtimes.
    assert_eq!(field(0, "hand_built", "max_in_flight"), 5.0);
    assert_eq!(field(0, "tokio", "max_in_flight"), 5.0);
    // Every runtime's batch of 1 s sleeps, measured in its child: a sleep never ends early.
    let runtimes = [
        "hand_built",
        "tokio",
        "tokio_join_all",
        "tokio_join_all_unconstrained",
    ];
    for name in runtimes {
        assert!(field(1, name, "peak_rss_kb") > 0.0);
        assert!(field(1, name, "wall_ms") >= 1000.0, "{name}");
    }
    for name in ["hand_built", "tokio"] {
        assert!(field(2, name, "round_trips_per_s") > 0.0);
        // Whether each server had a core, measured as its wait for a CPU.
        let waited = field(2, name, "server_cpu_wait_share");
        assert!((0.0..=1.05).contains(&waited), "{name}: {waited}");
        let row = reports[2]["measurements"].as_array().unwrap();
        let row = row.iter().find(|m| m["name"] == name).unwrap();
        assert!(row["idle_core"].is_boolean(), "{name}: {row}");
    }
    field(3, "never_awaits", "longest_iteration_ms");
    for name in ["on_loop", "spawn_blocking", "process"] {
        for key in ["worst_tick_lateness_ms", "ticks", "wall_ms"] {
            field(4, name, key);
        }
    }
    assert_eq!(field(4, "on_loop", "ticks_during_job"), 0.0);
    // Whether each job had a core to itself, measured as CPU-seconds per second of the job.
    for name in ["on_loop", "spawn_blocking", "process"] {
        assert!(
            field(4, name, "job_cpu_per_s") > 0.0,
            "{name}: the job used CPU"
        );
        let row = reports[4]["measurements"].as_array().unwrap();
        let row = row.iter().find(|m| m["name"] == name).unwrap();
        assert!(row["idle_core"].is_boolean(), "{name}: {row}");
    }
    for report in &reports {
        assert_eq!(report["section"], "1.7");
    }
}

fn assert_one_line_error(args: &[&str], expected: &str) {
    let output = run(args);
    assert!(!output.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("panicked"));
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
    let result: Value = serde_json::from_str(other.last().unwrap()).unwrap();
    assert!(result["wall_ms"].as_f64().unwrap() >= 1000.0);
}
