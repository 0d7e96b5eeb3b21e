//! The real binary, as a learner or a script runs it: help, `--json`, and bad input.

use std::process::Output;

use shared::python::Python;
use shared::testing::{Row, assert_one_line_error, assert_rows, json_lines, measurement};

const EXE: &str = env!("CARGO_BIN_EXE_ch01-gil-analogy");

/// Runs the binary with these arguments (separated by spaces).
fn run(args: &str) -> Output {
    shared::testing::run(EXE, &args.split(' ').collect::<Vec<_>>())
}

#[test]
fn help_lists_every_demo_with_its_section_but_not_the_child() {
    let output = run("--help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (demo, section, ..) in expected(false) {
        let line = help.lines().find(|l| l.trim_start().starts_with(demo));
        let line = line.unwrap_or_else(|| panic!("{demo} missing from --help:\n{help}"));
        assert!(line.contains(section), "{demo} without its section: {line}");
    }
    let hidden = !help.contains("__child");
    assert!(hidden, "the hidden child shows in --help");
    let flags = "--json --no-python --fib --switch-interval --requests --increments --units";
    let missing: Vec<_> = flags
        .split(' ')
        .filter(|flag| !help.contains(flag))
        .collect();
    assert!(missing.is_empty(), "missing from --help: {missing:?}");
}

/// Each demo's line, then its rows with the fields each must carry as numbers, in order; a row
/// marked `py` is CPython's (its fields are the Rust row's beside it). `field=value`: the fact it
/// must state with the [`TINY`] sizes.
const EXPECTED: &str = "
processes-and-threads 1.4
threads: wall_ms cpu_ms pid_differs=0 shared_memory=1
processes: wall_ms cpu_ms pid_differs=1 shared_memory=0 private_memory=1
thread_start: units wall_ms per_unit_us
process_start: units wall_ms per_unit_us
thread_hello: pid thread_id threads same_pid main_thread
child_hello: pid thread_id threads=1 same_pid main_thread=1
thread_memory: units kb_per_unit
process_memory: units kb_per_unit
py python_thread_start: units wall_ms per_unit_us
py python_process_start: units wall_ms per_unit_us
gil 1.5
sequential: wall_ms cpu_ms ratio fib_n=14
threads_with_gil: wall_ms cpu_ms ratio handoffs drop_requests lock_wait_ms
threads_no_gil: wall_ms cpu_ms ratio cpu_per_wall
processes: wall_ms cpu_ms ratio cpu_per_wall
rayon: wall_ms cpu_ms ratio cpu_per_wall
io_sequential: wall_ms ratio requests max_in_flight=1
io_threads_with_gil: wall_ms ratio handoffs max_in_flight=2
io_processes: wall_ms cpu_ms ratio requests max_in_flight
py cpython_sequential: wall_ms cpu_ms ratio fib_n
py cpython_threads: wall_ms cpu_ms ratio
py cpython_io_sequential: wall_ms cpu_ms ratio requests max_in_flight
py cpython_io_threads: wall_ms cpu_ms ratio requests max_in_flight=2
refcount 1.5
non_atomic: wall_ms lost_updates
atomic: wall_ms lost_updates=0
freed_at_zero: references freed_after_drops frees=1
non_atomic_under_gil: wall_ms lost_updates=0 handoffs
py cpython_refcount: references freed_after_drops frees=1
coroutines 1.5
os_threads: units wall_ms peak_rss_kb bytes_per_unit spawn_us_per_unit \
    spawn_cpu_us_per_unit threads_used
tokio_tasks: units=20 wall_ms peak_rss_kb bytes_per_unit spawn_us_per_unit \
    spawn_cpu_us_per_unit threads_used=1
py asyncio_tasks: units wall_ms peak_rss_kb bytes_per_unit spawn_us_per_unit \
    spawn_cpu_us_per_unit threads_used=1
py python_threads: units wall_ms peak_rss_kb bytes_per_unit spawn_us_per_unit \
    spawn_cpu_us_per_unit threads_used
";

/// A demo's name and section, its rows, and the facts its fields must state.
type Demo = (
    &'static str,
    &'static str,
    Vec<Row>,
    Vec<(&'static str, &'static str, f64)>,
);

/// [`EXPECTED`] as demos, with CPython's rows when `python`.
fn expected(python: bool) -> Vec<Demo> {
    let mut demos: Vec<Demo> = Vec::new();
    for line in EXPECTED.trim().lines() {
        let Some((name, fields)) = line.split_once(": ") else {
            let (demo, section) = line.split_once(' ').expect("a demo and its section");
            demos.push((demo, section, Vec::new(), Vec::new()));
            continue;
        };
        if python || !name.starts_with("py ") {
            let name = name.trim_start_matches("py ");
            let (_, _, rows, facts) = demos.last_mut().expect("a demo before its rows");
            let mut names = Vec::new();
            for field in fields.split(' ') {
                let (field, value) = field.split_once('=').unwrap_or((field, ""));
                names.push(field);
                facts.extend(value.parse().ok().map(|value| (name, field, value)));
            }
            rows.push((name, names.leak()));
        }
    }
    demos
}

/// Tiny sizes, so that every demo runs in seconds; the delay is long enough for two request
/// threads to be at the server at once on a loaded machine.
const TINY: &str = "--fib 14 --requests 2 --delay 300 --increments 2000 --units 20";

#[test]
fn json_prints_one_line_per_demo_with_the_documented_names_and_no_python_leaves_cpython_out() {
    let output = run(&format!("--json {TINY}"));
    let lines = json_lines(&output);
    let python = Python::find(false).map_err(|e| eprintln!("note: {e}"));
    let python = python.is_ok();
    let demos = expected(python);
    assert_eq!(lines.len(), demos.len(), "one line per demo: {lines:?}");
    for (line, (demo, section, rows, facts)) in lines.iter().zip(demos) {
        assert_rows(line, demo, section, &rows);
        // The facts, as the JSON states them.
        for (row, field, value) in facts {
            let stated = measurement(line, row)[field].as_f64();
            assert_eq!(stated, Some(value), "{demo}: {row}.{field}");
        }
    }

    // With --no-python: the same without the CPython rows, and one line says why.
    let output = run(&format!("--json --no-python {TINY}"));
    let lines = json_lines(&output);
    for (line, (demo, section, rows, _)) in lines.iter().zip(expected(false)) {
        assert_rows(line, demo, section, &rows);
    }
    let stderr = shared::testing::stderr_lines(&output);
    let said = stderr.iter().filter(|l| l.contains("--no-python")).count();
    assert_eq!(said, 1, "{stderr:?}");
}

#[test]
fn bad_input_gets_one_clear_line_and_a_nonzero_exit() {
    let cases = [
        ("coroutines --units 0", "--units"),
        ("coroutines --units abc", "abc"),
        ("coroutines --units 100000000000", "--units"),
        ("gil --fib abc", "abc"),
        ("gil --fib 1000", "1..=40"),
        ("gil --fib 0", "1..=40"),
        ("--switch-interval 0", "--switch-interval"),
        ("no-such-demo", "no-such-demo"),
        ("refcount --increments 0", "--increments"),
        ("gil --fib 10 --url http://127.0.0.1:1/", "cannot reach"),
        // With every demo to run, before the first has printed anything.
        ("--json --url http://127.0.0.1:1/", "cannot reach"),
    ];
    for (args, mentions) in cases {
        let output = run(args);
        let exit_2 = mentions == "cannot reach" || output.status.code() == Some(2);
        assert!(exit_2, "{args}: bad arguments exit with 2");
        let line = assert_one_line_error(&output, args);
        assert!(line.contains(mentions), "{args}: no {mentions} in {line}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.is_empty(), "{args}: a demo ran first: {stdout}");
    }
}
