//! The real binary, as a learner or a script uses it: `--help`, `--json`, narration, bad input.

use shared::testing::{Row, assert_one_line_error, assert_rows, json_lines, measurement};

const BIN: &str = env!("CARGO_BIN_EXE_ch01-sync-vs-async");
const SMALL: &str = "--requests 3 --delay-ms 300 --background-ms 100 --cpu-ms 50 --busy-ms 50";

/// The `--json` line of each demo, in the order of the notes: its public interface. Each line is
/// a demo, its section, a measurement's name, then the fields that measurement carries as numbers.
const EXPECTED: &str = "\
requests 1.1 sequential_blocking wall_ms max_in_flight speedup ideal
requests 1.1 sequential_async wall_ms max_in_flight speedup ideal
requests 1.1 concurrent wall_ms max_in_flight speedup ideal
requests 1.1 python_blocking wall_ms max_in_flight speedup ideal
requests 1.1 asyncio_sequential wall_ms max_in_flight speedup ideal
requests 1.1 asyncio_gather wall_ms max_in_flight speedup ideal
background 1.1 background wall_ms main_ticks notified_after_ms tick_every_ms
background 1.1 asyncio_create_task wall_ms main_ticks notified_after_ms tick_every_ms
io-vs-cpu 1.2 io_bound wall_ms cpu_ms delay_ms
io-vs-cpu 1.2 cpu_bound wall_ms cpu_ms rounds
io-vs-cpu 1.2 io_bound_half_delay wall_ms delay_ms vs_baseline
io-vs-cpu 1.2 io_bound_busy_cpu wall_ms cpu_ms spinner_cpu_ms vs_baseline
io-vs-cpu 1.2 cpu_bound_fixed_work wall_ms cpu_ms rounds
io-vs-cpu 1.2 cpu_bound_half_work wall_ms cpu_ms rounds vs_baseline
io-vs-cpu 1.2 cpu_bound_busy_cpu wall_ms cpu_ms spinner_cpu_ms vs_baseline
io-vs-cpu 1.2 python_io_bound wall_ms cpu_ms cpu_per_wall delay_ms
io-vs-cpu 1.2 python_cpu_bound wall_ms cpu_ms cpu_per_wall rounds
multitasking 1.3 cooperative wall_ms threads_used switches os_context_switches os_switches_per_hand_over
multitasking 1.3 starved wall_ms threads_used starved_ms os_context_switches
multitasking 1.3 preemptive_one_core wall_ms threads_used os_context_switches
multitasking 1.3 parallel wall_ms threads_used os_context_switches overlap_ms
multitasking 1.3 asyncio_cooperative wall_ms threads_used switches os_context_switches os_switches_per_hand_over
multitasking 1.3 python_threads_one_core wall_ms threads_used switches os_context_switches switch_interval_ms
";

/// Runs the binary with these space-separated arguments.
fn run(args: &str) -> std::process::Output {
    shared::testing::run(BIN, &args.split_whitespace().collect::<Vec<_>>())
}

#[test]
fn help_lists_every_demo_with_its_section() {
    let help = String::from_utf8(run("--help").stdout).unwrap();
    let demos = "requests [1.1], background [1.1], io-vs-cpu [1.2], multitasking [1.3]";
    for demo in demos.split(", ") {
        let (name, section) = demo.split_once(' ').unwrap();
        let listed = |line: &str| line.trim_start().starts_with(name) && line.contains(section);
        assert!(help.lines().any(listed), "{demo} missing:\n{help}");
    }
}

#[test]
fn json_has_one_line_per_demo_with_the_documented_names() {
    // Without python3 the CPython rows (python_*, asyncio_*) are left out, on purpose here.
    let python = shared::testing::python().is_some();
    let no_python = if python { "" } else { "--no-python" };
    let lines = json_lines(&run(&format!("--json {SMALL} {no_python}")));
    let demos = ["requests", "background", "io-vs-cpu", "multitasking"];
    assert_eq!(lines.len(), demos.len(), "{lines:?}");
    for (line, demo) in lines.iter().zip(demos) {
        let rust = |name: &str| !name.starts_with("python_") && !name.starts_with("asyncio_");
        let rows: Vec<&[&str]> = (EXPECTED.lines())
            .map(|line| Vec::leak(line.split(' ').collect()) as &[&str])
            .filter(|words| words[0] == demo && (python || rust(words[2])))
            .collect();
        let fields: Vec<Row> = rows.iter().map(|words| (words[2], &words[3..])).collect();
        assert_rows(line, demo, rows[0][1], &fields);
    }
    assert!(measurement(&lines[3], "parallel")["idle_cores"].is_boolean());
    assert_eq!(measurement(&lines[0], "concurrent")["max_in_flight"], 3.0);
    let blocking = measurement(&lines[0], "sequential_blocking");
    assert_eq!(blocking["max_in_flight"], 1.0);
}

#[test]
fn a_narrated_run_of_one_demo_has_header_table_timeline_and_summary() {
    let output = run(&format!("background {SMALL}"));
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("1.1  What is asyncio"), "{stdout}");
    assert!(stdout.contains(" ticks "), "{stdout}");
    assert!(stdout.contains("timeline: background"));
    assert!(stdout.contains("What you just saw (notes, section 1.1)"));
    assert!(!stdout.contains("section 1.3"), "one demo only: {stdout}");
}

#[test]
fn no_python_leaves_the_cpython_rows_out_and_says_why() {
    let output = run("background --json --no-python --background-ms 100");
    let fields: &[&str] = &["wall_ms", "main_ticks", "notified_after_ms"];
    let json = &json_lines(&output)[0];
    assert_rows(json, "background", "1.1", &[("background", fields)]);
    let said = shared::testing::stderr_lines(&output);
    assert_eq!(said, ["CPython rows left out (--no-python)"]);
}

#[test]
fn bad_input_gives_one_line_and_a_non_zero_exit() {
    let bad = "--requests abc|--requests 0|requests --requests 3 --url http://127.0.0.1:1/|\
               frobnicate|--delay-ms -5|--url ftp://example.com/";
    for args in bad.split('|') {
        assert_one_line_error(&run(args), args);
    }
    let unreachable = run("requests --url http://127.0.0.1:1/");
    let line = assert_one_line_error(&unreachable, "an unreachable --url");
    assert!(line.contains("cannot reach"), "{line}");
}

#[test]
fn sizes_go_before_or_after_the_demo_name() {
    let parse =
        |args: &str| shared::cli::try_parse_from::<ch01_sync_vs_async::Cli>(args.split(' '));
    let after = parse("demo requests --requests 5").unwrap().sizes;
    assert_eq!(after.requests, 5);
    assert_eq!(parse("demo --requests 5 requests").unwrap().sizes, after);
}
