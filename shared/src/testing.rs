//! What every crate's `tests/cli.rs` does with its binary (feature `testing`, no demo uses it): run
//! it, read its `--json` lines, check names and fields, check that bad input fails in one line.

use std::process::{Command, Output};

use serde_json::Value;

/// A measurement's name and the fields it must carry as numbers (one row of `--json`).
pub type Row = (&'static str, &'static [&'static str]);

/// The `python3` for CPython checks, or `None` after saying why they are skipped (fails in CI).
pub fn python() -> Option<crate::python::Python> {
    let skip = |absent: &crate::python::Absent| {
        let in_ci = std::env::var_os("CI").is_some();
        assert!(!in_ci, "CI must run CPython: {absent}");
        eprintln!("skipped: {absent}");
    };
    crate::python::Python::find(false).inspect_err(skip).ok()
}

/// Runs the binary with these arguments and waits for it.
pub fn run(binary: &str, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{binary} did not start: {e}"))
}

/// Standard error as its non-empty lines.
pub fn stderr_lines(output: &Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&output.stderr);
    let lines = text.lines().filter(|line| !line.trim().is_empty());
    lines.map(String::from).collect()
}

/// The `--json` lines of a run that must have succeeded: every line of standard output parsed.
pub fn json_lines(output: &Output) -> Vec<Value> {
    let (status, stderr) = (output.status, String::from_utf8_lossy(&output.stderr));
    assert!(status.success(), "the run failed ({status}): {stderr}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The measurement called `name` in one demo's line.
pub fn measurement<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["measurements"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["name"] == name))
        .unwrap_or_else(|| panic!("no measurement {name} in {report}"))
}

/// One demo's line has this name and section, exactly these rows in order, each with its fields.
pub fn assert_rows(report: &Value, demo: &str, section: &str, rows: &[Row]) {
    assert_eq!(report["demo"], demo, "{report}");
    assert_eq!(report["section"], section, "{report}");
    let names: Vec<&str> = report["measurements"]
        .as_array()
        .map(|got| got.iter().filter_map(|row| row["name"].as_str()).collect())
        .unwrap_or_default();
    let expected: Vec<&str> = rows.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected, "{demo}: measurement names");
    for (name, fields) in rows {
        let row = measurement(report, name);
        for field in *fields {
            assert!(row[field].is_number(), "{demo}/{name} lacks {field}: {row}");
        }
    }
}

/// The run failed with exactly one `error:` line on stderr, not a panic; returns that line.
pub fn assert_one_line_error(output: &Output, what: &str) -> String {
    assert!(!output.status.success(), "{what}: should have failed");
    let lines = stderr_lines(output);
    assert_eq!(lines.len(), 1, "{what}: {lines:?}");
    assert!(lines[0].starts_with("error:"), "{what}: {lines:?}");
    assert!(!lines[0].contains("panicked"), "{what}: {lines:?}");
    lines.into_iter().next().unwrap_or_default()
}

/// A started server: the process, its stdout after `listening on ADDR`, ADDR, its stderr lines.
pub type Started = (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
    String,
    std::sync::mpsc::Receiver<String>,
);

/// Starts a server binary, with at most `fd_limit` descriptors (soft and hard) when given.
pub fn start_server(binary: &str, args: &[&str], fd_limit: Option<u64>) -> Started {
    use std::io::BufRead as _;
    use std::process::Stdio;
    // `sh`'s `ulimit -n` sets both limits; `exec` then runs the server in the shell's place.
    let limit = fd_limit.map_or(String::new(), |n| format!("ulimit -n {n} && "));
    let mut child = Command::new("sh")
        .args(["-c", &format!("{limit}exec \"$0\" \"$@\""), binary])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{binary} did not start: {e}"));
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let stderr = std::io::BufReader::new(child.stderr.take().expect("piped"));
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stderr_lines = stderr.lines().map_while(Result::ok);
        stderr_lines.try_for_each(|line| lines.send(line))
    });
    let mut first = String::new();
    let _ = stdout.read_line(&mut first);
    let addr = first.trim().strip_prefix("listening on ").map(String::from);
    let addr = addr.unwrap_or_else(|| panic!("unexpected first line: {first:?}"));
    (child, stdout, addr, received)
}
