//! Section 1.7: the real binary, as a learner runs it: help, JSON output, bad input, trace. What
//! each demo's numbers must say is checked in `tests/demos.rs`; here only that they are printed.

use shared::testing::{self, Row, assert_one_line_error, assert_rows, json_lines};

const BIN: &str = env!("CARGO_BIN_EXE_ch01-event-loop");

fn run(args: &[&str]) -> std::process::Output {
    testing::run(BIN, args)
}

/// The same, with the arguments in one string.
fn run_line(args: &str) -> std::process::Output {
    run(&args.split(' ').collect::<Vec<_>>())
}

#[test]
fn help_lists_every_demo_with_its_section() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for demo in "requests timers echo-bench cooperative offload serve 1.7".split(' ') {
        assert!(help.contains(demo), "{demo} missing from --help");
    }
}

/// Rows named `names`, each with `fields` (both space-separated), as `assert_rows` takes them.
fn rows(names: &'static str, fields: &'static str) -> Vec<Row> {
    let fields: &[&str] = Vec::leak(fields.split(' ').collect());
    names.split(' ').map(|name| (name, fields)).collect()
}

#[test]
fn json_output_has_the_documented_names_and_fields() {
    let tiny = "--json --no-python --requests 5 --delay-ms 300 --count 50 --connections 2 \
                --round-trips 20 --hog-ms 30 --job-ms 60";
    // Every demo of a plain run without Python, in order, with its rows: the public names and
    // numeric fields. (The CPython rows are checked where they are measured, `tests/demos.rs`.)
    let demos = ["requests", "timers", "echo-bench", "cooperative", "offload"];
    let mut requests = rows("hand_built", "wall_ms max_in_flight iterations polls");
    requests.extend(rows("tokio", "wall_ms max_in_flight"));
    let timers = "hand_built tokio tokio_join_all tokio_join_all_unconstrained";
    let echo = "wall_ms round_trips_per_s round_trips bytes_echoed cpu_ms \
                server_cpu_us_per_round_trip server_cpu_per_s server_cpu_wait_share";
    let ticks = "longest_iteration_ms worst_tick_lateness_ms iterations wall_ms cpu_wait_share";
    let offload = "worst_tick_lateness_ms ticks ticks_during_job job_ms wall_ms job_cpu_per_s";
    let demo_rows = [
        requests,
        rows(timers, "wall_ms peak_rss_kb rss_growth_kb bytes_per_timer"),
        rows("hand_built tokio", echo),
        rows("never_awaits awaits_every_ms", ticks),
        rows("on_loop spawn_blocking process", offload),
    ];
    let reports = json_lines(&run_line(tiny));
    assert_eq!(reports.len(), demos.len(), "one line per demo");
    for (report, (demo, rows)) in reports.iter().zip(demos.into_iter().zip(demo_rows)) {
        assert_rows(report, demo, "1.7", &rows);
        for row in report["measurements"].as_array().unwrap() {
            // Where a comparison needs a core, whether it had one is measured and said.
            let needs_a_core = ["echo-bench", "cooperative", "offload"].contains(&demo);
            assert_eq!(row["idle_core"].is_boolean(), needs_a_core, "{demo}: {row}");
        }
    }
}

#[test]
fn bad_input_gives_one_clear_line() {
    for (args, expected) in [
        (&["timers", "--count", "-5"][..], "--count"),
        (&["requests", "--requests", "0"], "--requests"),
        (&["--requests", "many"], "--requests"),
        (&["no-such-demo"], "no-such-demo"),
        (&["requests", "--url", "https://127.0.0.1:1/"], "error:"),
        (&["__child", "{\"NoSuchJob\":1}"], "error:"),
    ] {
        let line = assert_one_line_error(&run(args), &format!("{args:?}"));
        assert!(line.contains(expected), "{line}");
    }
}

#[test]
fn trace_prints_one_line_per_iteration() {
    let output = run_line("requests --quiet --trace --requests 3 --delay-ms 20");
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[loop] iteration 1: polled 1 task (main)"),
        "{stderr}"
    );
    assert!(stderr.contains("I/O events"));
}
