//! The real binary, as a learner or a script uses it: `--help`, `--json`, narration, bad input.

use shared::testing::{
    Row, assert_one_line_error, assert_rows, json_lines, measurement, run, stderr_lines,
};

const BIN: &str = env!("CARGO_BIN_EXE_ch01-sync-vs-async");
const SMALL: [&str; 10] = [
    "--requests",
    "3",
    "--delay-ms",
    "300",
    "--background-ms",
    "100",
    "--cpu-ms",
    "50",
    "--busy-ms",
    "50",
];

/// The `--json` line of each demo, in the order of the notes: its public interface. Each row is
/// a measurement's name, then the fields it carries as numbers.
const EXPECTED: [(&str, &str, &[&str]); 4] = [
    (
        "requests",
        "1.1",
        &[
            "sequential_blocking wall_ms max_in_flight speedup ideal",
            "sequential_async wall_ms max_in_flight speedup ideal",
            "concurrent wall_ms max_in_flight speedup ideal",
            "python_blocking wall_ms max_in_flight speedup ideal",
            "asyncio_sequential wall_ms max_in_flight speedup ideal",
            "asyncio_gather wall_ms max_in_flight speedup ideal",
        ],
    ),
    (
        "background",
        "1.1",
        &[
            "background wall_ms main_ticks notified_after_ms tick_every_ms",
            "asyncio_create_task wall_ms main_ticks notified_after_ms tick_every_ms",
        ],
    ),
    (
        "io-vs-cpu",
        "1.2",
        &[
            "io_bound wall_ms cpu_ms delay_ms",
            "cpu_bound wall_ms cpu_ms rounds",
            "io_bound_half_delay wall_ms delay_ms vs_baseline",
            "io_bound_busy_cpu wall_ms cpu_ms spinner_cpu_ms vs_baseline",
            "cpu_bound_fixed_work wall_ms cpu_ms rounds",
            "cpu_bound_half_work wall_ms cpu_ms rounds vs_baseline",
            "cpu_bound_busy_cpu wall_ms cpu_ms spinner_cpu_ms vs_baseline",
            "python_io_bound wall_ms cpu_ms cpu_per_wall delay_ms",
            "python_cpu_bound wall_ms cpu_ms cpu_per_wall rounds",
        ],
    ),
    (
        "multitasking",
        "1.3",
        &[
            "cooperative wall_ms threads_used switches os_context_switches os_switches_per_hand_over",
            "starved wall_ms threads_used starved_ms os_context_switches",
            "preemptive_one_core wall_ms threads_used os_context_switches",
            "parallel wall_ms threads_used os_context_switches overlap_ms",
            "asyncio_cooperative wall_ms threads_used switches os_context_switches os_switches_per_hand_over",
            "python_threads_one_core wall_ms threads_used switches os_context_switches switch_interval_ms",
        ],
    ),
];

/// `"name field field"` as the `Row` that `assert_rows` checks.
fn row(line: &'static str) -> Row {
    let mut words = line.split(' ');
    let name = words.next().unwrap_or_default();
    (name, Vec::leak(words.collect()))
}

#[test]
fn help_lists_every_demo_with_its_section() {
    let help = String::from_utf8(run(BIN, &["--help"]).stdout).unwrap();
    for demo in [
        "requests [1.1]",
        "background [1.1]",
        "io-vs-cpu [1.2]",
        "multitasking [1.3]",
    ] {
        let (name, section) = demo.split_once(' ').unwrap();
        let listed = |line: &str| line.trim_start().starts_with(name) && line.contains(section);
        assert!(help.lines().any(listed), "{demo} missing:\n{help}");
    }
}

#[test]
fn json_has_one_line_per_demo_with_the_documented_names() {
    let mut args = vec!["--json"];
    args.extend(SMALL);
    // Without python3 the CPython rows (python_*, asyncio_*) are left out, on purpose here.
    let python = shared::python::Python::find(false).is_ok();
    if !python {
        eprintln!("skipped the CPython rows: no python3 of 3.8 or newer on PATH");
        args.push("--no-python");
    }
    let lines = json_lines(&run(BIN, &args));
    assert_eq!(lines.len(), EXPECTED.len(), "{lines:?}");
    for (line, (demo, section, rows)) in lines.iter().zip(EXPECTED) {
        let rust = |row: &&&str| !row.starts_with("python_") && !row.starts_with("asyncio_");
        let rows = rows.iter().filter(|row| python || rust(row));
        let rows: Vec<Row> = rows.map(|line| row(line)).collect();
        assert_rows(line, demo, section, &rows);
    }
    assert!(measurement(&lines[3], "parallel")["idle_cores"].is_boolean());
    assert_eq!(measurement(&lines[0], "concurrent")["max_in_flight"], 3.0);
    assert_eq!(
        measurement(&lines[0], "sequential_blocking")["max_in_flight"],
        1.0
    );
}

#[test]
fn a_narrated_run_of_one_demo_has_header_table_timeline_and_summary() {
    let mut args = vec!["background"];
    args.extend(SMALL);
    let output = run(BIN, &args);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("1.1  What is asyncio"), "{stdout}");
    assert!(stdout.contains(" ticks "), "{stdout}");
    assert!(stdout.contains("timeline: background"));
    assert!(stdout.contains("What you just saw (notes, section 1.1)"));
    // One demo only.
    assert!(!stdout.contains("section 1.3"));
}

#[test]
fn no_python_leaves_the_cpython_rows_out_and_says_why() {
    let output = run(
        BIN,
        &[
            "background",
            "--json",
            "--no-python",
            "--background-ms",
            "100",
        ],
    );
    let rows = [row("background wall_ms main_ticks notified_after_ms")];
    assert_rows(&json_lines(&output)[0], "background", "1.1", &rows);
    assert_eq!(
        stderr_lines(&output),
        ["CPython rows left out (--no-python)"]
    );
}

#[test]
fn bad_input_gives_one_line_and_a_non_zero_exit() {
    let cases: [&[&str]; 6] = [
        &["--requests", "abc"],
        &["--requests", "0"],
        &[
            "requests",
            "--requests",
            "3",
            "--url",
            "http://127.0.0.1:1/",
        ],
        &["frobnicate"],
        &["--delay-ms", "-5"],
        &["--url", "ftp://example.com/"],
    ];
    for args in cases {
        assert_one_line_error(&run(BIN, args), &format!("{args:?}"));
    }
    let unreachable = run(BIN, &["requests", "--url", "http://127.0.0.1:1/"]);
    let line = assert_one_line_error(&unreachable, "an unreachable --url");
    assert!(line.contains("cannot reach"), "{line}");
}

#[test]
fn sizes_go_before_or_after_the_demo_name() {
    // Sizes are global: before or after the demo name.
    let after: ch01_sync_vs_async::Cli =
        shared::cli::try_parse_from(["demo", "requests", "--requests", "5"]).unwrap();
    let before: ch01_sync_vs_async::Cli =
        shared::cli::try_parse_from(["demo", "--requests", "5", "requests"]).unwrap();
    assert_eq!(after.sizes.requests, 5);
    assert_eq!(before.sizes, after.sizes);
}
