//! The real binary, as a learner or a script runs it: help, `--json`, and bad input.

use std::process::Output;

use shared::python::Python;
use shared::testing::{Row, assert_one_line_error, assert_rows, json_lines, measurement};

const EXE: &str = env!("CARGO_BIN_EXE_ch01-gil-analogy");

fn run(args: &[&str]) -> Output {
    shared::testing::run(EXE, args)
}

#[test]
fn help_lists_every_demo_with_its_section_but_not_the_child() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let demos = "processes-and-threads 1.4, gil 1.5, refcount 1.5, coroutines 1.5";
    for (demo, section) in demos.split(", ").filter_map(|pair| pair.split_once(' ')) {
        let line = help
            .lines()
            .find(|line| line.trim_start().starts_with(demo));
        let line = line.unwrap_or_else(|| panic!("{demo} missing from --help:\n{help}"));
        assert!(line.contains(section), "{demo} without its section: {line}");
    }
    assert!(
        !help.contains("__child"),
        "the hidden child shows in --help"
    );
    for flag in
        "--json --no-python --fib --switch-interval --requests --increments --units".split(' ')
    {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

/// One row: its name and the fields it must carry as numbers.
fn row(name: &'static str, fields: &'static str) -> Row {
    let fields: Vec<&'static str> = fields.split(' ').collect();
    (name, fields.leak())
}

/// Each demo's rows, with CPython's when `python` (their fields are the Rust rows' beside them).
fn expected(python: bool) -> [(&'static str, &'static str, Vec<Row>); 4] {
    let (hello, start) = (
        "pid thread_id threads same_pid main_thread",
        "units wall_ms per_unit_us",
    );
    let sleepers = "units wall_ms peak_rss_kb bytes_per_unit spawn_us_per_unit \
                    spawn_cpu_us_per_unit threads_used";
    let (fib_row, io_row) = (
        "wall_ms cpu_ms ratio fib_n",
        "wall_ms cpu_ms ratio requests max_in_flight",
    );
    let freed = "references freed_after_drops frees";
    let only = |rows: Vec<Row>| if python { rows } else { Vec::new() };
    [
        (
            "processes-and-threads",
            "1.4",
            [
                vec![
                    row("threads", "wall_ms cpu_ms pid_differs shared_memory"),
                    row("processes", "wall_ms cpu_ms pid_differs shared_memory"),
                    row("thread_start", start),
                    row("process_start", start),
                    row("thread_hello", hello),
                    row("child_hello", hello),
                    row("thread_memory", "units kb_per_unit"),
                    row("process_memory", "units kb_per_unit"),
                ],
                only(vec![
                    row("python_thread_start", start),
                    row("python_process_start", start),
                ]),
            ]
            .concat(),
        ),
        (
            "gil",
            "1.5",
            [
                vec![
                    row("sequential", fib_row),
                    row(
                        "threads_with_gil",
                        "wall_ms cpu_ms ratio handoffs drop_requests lock_wait_ms",
                    ),
                    row("threads_no_gil", "wall_ms cpu_ms ratio cpu_per_wall"),
                    row("processes", "wall_ms cpu_ms ratio cpu_per_wall"),
                    row("rayon", "wall_ms cpu_ms ratio cpu_per_wall"),
                    row("io_sequential", "wall_ms ratio requests max_in_flight"),
                    row(
                        "io_threads_with_gil",
                        "wall_ms ratio handoffs max_in_flight",
                    ),
                    row("io_processes", io_row),
                ],
                only(vec![
                    row("cpython_sequential", fib_row),
                    row("cpython_threads", "wall_ms cpu_ms ratio"),
                    row("cpython_io_sequential", io_row),
                    row("cpython_io_threads", io_row),
                ]),
            ]
            .concat(),
        ),
        (
            "refcount",
            "1.5",
            [
                vec![
                    row("non_atomic", "wall_ms lost_updates"),
                    row("atomic", "wall_ms lost_updates"),
                    row("freed_at_zero", freed),
                    row("non_atomic_under_gil", "wall_ms lost_updates handoffs"),
                ],
                only(vec![row("cpython_refcount", freed)]),
            ]
            .concat(),
        ),
        (
            "coroutines",
            "1.5",
            [
                vec![row("os_threads", sleepers), row("tokio_tasks", sleepers)],
                only(vec![
                    row("asyncio_tasks", sleepers),
                    row("python_threads", sleepers),
                ]),
            ]
            .concat(),
        ),
    ]
}

/// Tiny sizes, so that every demo runs in seconds.
const TINY: [&str; 10] = [
    "--fib",
    "14",
    "--requests",
    "2",
    // Long enough for two request threads to be at the server at once on a loaded machine.
    "--delay",
    "300",
    "--increments",
    "2000",
    "--units",
    "20",
];

#[test]
fn json_prints_one_parseable_line_per_demo_with_the_documented_names() {
    let output = run(&[&["--json"][..], &TINY].concat());
    let lines = json_lines(&output);
    let python = Python::find(false)
        .map_err(|absent| eprintln!("note: {absent}"))
        .is_ok();
    let expected = expected(python);
    assert_eq!(lines.len(), expected.len(), "one line per demo: {lines:?}");
    for (line, (demo, section, rows)) in lines.iter().zip(expected) {
        assert_rows(line, demo, section, &rows);
    }
    // The facts, as the JSON states them.
    let field = |demo: usize, row: &str, key: &str| measurement(&lines[demo], row)[key].as_f64();
    assert_eq!(field(0, "threads", "pid_differs"), Some(0.0));
    assert_eq!(field(0, "threads", "shared_memory"), Some(1.0));
    assert_eq!(field(0, "processes", "pid_differs"), Some(1.0));
    assert_eq!(field(0, "processes", "shared_memory"), Some(0.0));
    assert_eq!(field(0, "processes", "private_memory"), Some(1.0));
    assert_eq!(field(0, "child_hello", "main_thread"), Some(1.0));
    assert_eq!(field(0, "child_hello", "threads"), Some(1.0));
    assert_eq!(field(1, "sequential", "fib_n"), Some(14.0));
    assert_eq!(field(1, "io_sequential", "max_in_flight"), Some(1.0));
    assert_eq!(field(1, "io_threads_with_gil", "max_in_flight"), Some(2.0));
    assert_eq!(field(2, "atomic", "lost_updates"), Some(0.0));
    assert_eq!(field(2, "freed_at_zero", "frees"), Some(1.0));
    assert_eq!(field(2, "non_atomic_under_gil", "lost_updates"), Some(0.0));
    assert_eq!(field(3, "tokio_tasks", "threads_used"), Some(1.0));
    assert_eq!(field(3, "tokio_tasks", "units"), Some(20.0));
    if python {
        assert_eq!(field(1, "cpython_io_threads", "max_in_flight"), Some(2.0));
        assert_eq!(field(2, "cpython_refcount", "frees"), Some(1.0));
        assert_eq!(field(3, "asyncio_tasks", "threads_used"), Some(1.0));
    }
}

#[test]
fn no_python_leaves_the_cpython_rows_out_and_says_why_once() {
    let output = run(&[&["--json", "--no-python"][..], &TINY].concat());
    let lines = json_lines(&output);
    for (line, (demo, section, rows)) in lines.iter().zip(expected(false)) {
        assert_rows(line, demo, section, &rows);
    }
    let stderr = shared::testing::stderr_lines(&output);
    let said = stderr
        .iter()
        .filter(|line| line.contains("--no-python"))
        .count();
    assert_eq!(said, 1, "{stderr:?}");
}

#[test]
fn bad_input_gets_one_clear_line_and_a_nonzero_exit() {
    let cases: [(&[&str], &str); 10] = [
        (&["coroutines", "--units", "0"], "--units"),
        (&["coroutines", "--units", "abc"], "abc"),
        (&["coroutines", "--units", "100000000000"], "--units"),
        (&["gil", "--fib", "abc"], "abc"),
        (&["gil", "--fib", "1000"], "1..=40"),
        (&["gil", "--fib", "0"], "1..=40"),
        (&["--switch-interval", "0"], "--switch-interval"),
        (&["no-such-demo"], "no-such-demo"),
        (&["refcount", "--increments", "0"], "--increments"),
        (
            &["gil", "--fib", "10", "--url", "http://127.0.0.1:1/"],
            "cannot reach",
        ),
    ];
    for (args, mentions) in cases {
        let output = run(args);
        let usage = mentions != "cannot reach";
        assert!(
            !usage || output.status.code() == Some(2),
            "{args:?}: bad arguments exit with 2"
        );
        let line = assert_one_line_error(&output, &format!("{args:?}"));
        assert!(
            line.contains(mentions),
            "{args:?} does not mention {mentions}: {line}"
        );
    }
}

#[test]
fn an_unreachable_url_stops_the_whole_run_before_any_demo() {
    let output = run(&["--json", "--url", "http://127.0.0.1:1/"]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.is_empty(), "a demo ran first: {stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach"));
}
