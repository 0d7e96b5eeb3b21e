//! The CPython rows' plumbing: a program's answer and spans come back on this process's clock, an
//! asyncio task's awaits show as waiting, and a broken program is an error that names it.

use std::time::Duration;

use shared::python::{Python, Script};
// In CI a machine without python3 fails these tests; elsewhere they say why they check nothing.
use shared::testing::python;

const TASKS: Script = Script::new(
    "tasks.py",
    r#"
import asyncio
async def wait_then_count(n):
    await asyncio.sleep(0.05)      # waiting: no CPU
    return sum(range(n))           # running
async def main():
    return await asyncio.gather(*(traced("task", wait_then_count(300_000), i=i) for i in range(2)))
answer({"sums": asyncio.run(main()), "args": ARGS})
"#,
);

#[test]
fn a_python_program_answers_with_its_spans_on_our_clock_and_a_broken_one_is_an_error_naming_it() {
    // `--no-python` leaves the rows out and says why, with or without a python3.
    let absent = Python::find(true).unwrap_err();
    assert_eq!(absent.to_string(), "CPython rows left out (--no-python)");
    let Some(python) = python() else { return };
    let before = shared::trace::now();
    let finished = python
        .run::<serde_json::Value>(&TASKS, &["x".into()])
        .unwrap();
    let after = shared::trace::now();
    assert_eq!(finished.result["args"][0], "x");
    assert_eq!(finished.spans.len(), 2);
    for span in &finished.spans {
        // Wrong clock (Unix time, or not moved onto ours): the span lands outside the run.
        assert!(before <= span.opened && span.closed <= after, "{span:?}");
        assert!(span.label.starts_with("task "));
        // An asyncio task is stepped at least twice (before and after its sleep), and the 50 ms
        // it awaited is not CPU time: a helper that timed the task as one stretch would count
        // it as running only if the sleep burned CPU, and would have one run.
        assert!(span.runs.len() >= 2, "{span:?}");
        assert!(span.wall() >= Duration::from_millis(50));
        assert!(span.cpu() < span.wall(), "{span:?}");
    }
    // Both tasks were open at once: gather runs them concurrently.
    assert!(finished.spans[0].overlaps(&finished.spans[1]));

    let broken = Script::new("broken.py", "raise SystemExit('the listing broke')");
    let error = python.run::<u64>(&broken, &[]).unwrap_err().to_string();
    assert!(
        error.contains("broken.py") && error.contains("the listing broke"),
        "{error}"
    );
    let silent = Script::new("silent.py", "pass");
    let error = python.run::<u64>(&silent, &[]).unwrap_err().to_string();
    assert!(error.contains("did not report a result"), "{error}");
}
