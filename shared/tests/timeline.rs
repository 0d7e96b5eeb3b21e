//! Timeline layout on hand-made spans: deterministic text, no clock involved.

use std::time::Duration;

use shared::timeline::{MAX_ROWS, Style, render};
use shared::timing::ThreadUsage;
use shared::trace::{Run, Span};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A span open from `from` to `to` ms, entered once for that whole time with `cpu` ms of CPU.
fn span(label: &str, from: u64, to: u64, cpu: u64, thread: u64) -> Span {
    Span {
        name: label.into(),
        label: label.into(),
        pid: 100,
        thread_id: thread,
        opened: ms(from),
        closed: ms(to),
        runs: vec![Run {
            thread_id: thread,
            start: ms(from),
            end: ms(to),
            at_start: ThreadUsage::default(),
            at_end: ThreadUsage {
                cpu: ms(cpu),
                context_switches: 0,
            },
        }],
        waiting_for: None,
    }
}

#[test]
fn sequential_requests_draw_a_staircase_and_computing_draws_running() {
    let spans = vec![
        span("request 1", 0, 100, 1, 7),
        span("request 2", 100, 200, 1, 7),
        span("request 3", 200, 300, 1, 7),
        span("process", 300, 400, 95, 8),
    ];
    let text = render(&spans, &Style::plain(60));
    let expected = "\
request 1  t7  |~~~~~~~~~~~                                |
request 2  t7  |           ~~~~~~~~~~~                     |
request 3  t7  |                      ~~~~~~~~~~           |
process    t8  |                                ###########|
               0 ms    100 ms     200 ms     300 ms   400 ms
               1 column = 9.3 ms, # running on a CPU, ~
               waiting (on I/O, a timer or its turn)
";
    assert_eq!(text, expected, "\n{text}");
    // Open but not entered, a span waits: a task open from 0 to 100 ms, polled (full CPU) from 50.
    let mut task = span("task", 0, 100, 50, 1);
    task.runs[0].start = ms(50);
    let text = render(&[task], &Style::plain(40));
    let row = text.lines().next().unwrap();
    let bar: String = row.split('|').nth(1).unwrap().into();
    let half = bar.len() / 2;
    assert!(bar[..half - 1].chars().all(|c| c == '~'), "{row}");
    assert!(bar[half + 1..].chars().all(|c| c == '#'), "{row}");
}

#[test]
fn every_line_fits_the_width_and_is_ascii_when_plain() {
    let name = |i| format!("a rather long task name {i}");
    let long = |i| span(&name(i), i * 3, i * 3 + 40, 40, i);
    let spans: Vec<Span> = (0..50).map(long).collect();
    for width in [40, 80, 120] {
        let text = render(&spans, &Style::plain(width));
        for line in text.lines() {
            assert!(line.is_ascii(), "{line}");
            assert!(line.len() <= width, "{} > {width}: {line}", line.len());
        }
    }
    // A thousand spans are capped to the row limit.
    let request = |i| span(&format!("request {i}"), i, i + 500, 0, 1);
    let spans: Vec<Span> = (0..1000).map(request).collect();
    let text = render(&spans, &Style::plain(80));
    let rows = text.lines().filter(|l| l.contains('|')).count();
    assert_eq!(rows, MAX_ROWS - 1);
    assert!(text.contains("(981 more rows not shown)"), "{text}");
}

#[test]
fn a_span_too_short_to_time_is_marked_not_drawn_as_running() {
    // A ticker's ticks: 10 µs each, every 100 ms, with the clocks claiming full CPU. Ten
    // microseconds is below what the clocks resolve, so neither running nor waiting is drawn.
    let tick = |i: u64| {
        let mut tick = span("tick", i * 100, i * 100, 0, 3);
        tick.closed += Duration::from_micros(10);
        (tick.runs[0].end, tick.runs[0].at_end.cpu) = (tick.closed, Duration::from_micros(10));
        tick
    };
    let ticks: Vec<Span> = (0..5).map(tick).collect();
    let text = render(&ticks, &Style::plain(60));
    let row = text.lines().next().unwrap();
    assert_eq!(row.matches('.').count(), 5, "{text}");
    assert!(!row.contains('#') && !row.contains('~'), "{text}");
    assert!(text.contains(". open too briefly to time"), "{text}");
    // A zero-length span still gets one column.
    let spans = vec![span("long", 0, 1000, 0, 1), span("blip", 500, 500, 0, 2)];
    let text = render(&spans, &Style::plain(60));
    let blip = text.lines().find(|l| l.starts_with("blip")).unwrap();
    assert_eq!(blip.matches('.').count(), 1, "{text}");
    // Control: the same ticks lasting 10 ms each are timed, and draw as running.
    let long_tick = |i: u64| span("tick", i * 100, i * 100 + 10, 10, 3);
    let long_ticks: Vec<Span> = (0..5).map(long_tick).collect();
    let text = render(&long_ticks, &Style::plain(60));
    assert!(text.lines().next().unwrap().contains('#'), "{text}");
}

#[test]
fn a_lock_wait_other_processes_and_the_fancy_style_are_drawn_as_such() {
    let mut waiting = span("worker", 0, 100, 0, 1);
    waiting.waiting_for = Some("lock".into());
    let holder = span("holder", 0, 100, 100, 2);
    let text = render(&[waiting, holder], &Style::plain(40));
    assert!(text.lines().next().unwrap().contains('!'), "{text}");
    assert!(text.contains("! waiting for a lock"), "{text}");
    // Rows from several processes name the process.
    let mut child = span("child", 0, 10, 10, 2);
    child.pid = 200;
    let text = render(&[span("parent", 0, 10, 10, 1), child], &Style::plain(60));
    assert!(
        text.contains("p100 t1") && text.contains("p200 t2"),
        "{text}"
    );
    let fancy = Style {
        fancy: true,
        ..Style::plain(60)
    };
    let text = render(&[span("x", 0, 10, 10, 1)], &fancy);
    assert!(text.contains('█') && text.contains("\x1b["), "{text}");
    let nothing = render(&[], &Style::plain(80));
    assert!(nothing.is_empty(), "no spans render nothing");
}

#[test]
fn a_report_too_wide_for_the_terminal_is_split_and_every_line_fits() {
    let row = |name| {
        serde_json::json!({ "name": name, "wall_ms": 1234.5, "first_long_field_name": 1_000_000,
            "second_long_field_name": 2_000_000, "third_long_field_name": 3_000_000,
            "fourth_long_field_name": 0.25 })
    };
    let rows = vec![row("preemptive_one_core"), row("parallel")];
    let report = shared::Report::new("demo", "1.0", rows);
    let table = report.table(50, false);
    for line in table.lines() {
        assert!(line.chars().count() <= 50, "{line}\n{table}");
    }
    // Split, each part led by the names, and no value broken across lines.
    assert!(table.matches("preemptive_one_core").count() >= 2, "{table}");
    for value in ["1.23 s", "1000000", "2000000", "3000000", "0.25"] {
        assert!(table.contains(value), "{value} missing:\n{table}");
    }
}
