//! Timeline layout on hand-made spans: deterministic text, no clock involved.

use std::time::Duration;

use shared::spans::{Span, SpanKind};
use shared::timeline::{TimelineStyle, render};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn span(task: &str, kind: SpanKind, from: u64, to: u64, thread: u64) -> Span {
    Span::at(task, kind, ms(from), ms(to)).on_thread("t", thread, 100)
}

#[test]
fn sequential_requests_draw_a_staircase() {
    let spans = vec![
        span("request 1", SpanKind::WaitIo, 0, 100, 7),
        span("request 2", SpanKind::WaitIo, 100, 200, 7),
        span("request 3", SpanKind::WaitIo, 200, 300, 7),
        span("process", SpanKind::Cpu, 300, 400, 8),
    ];
    let text = render(&spans, &TimelineStyle::plain(60));
    let expected = "\
request 1  t7  |~~~~~~~~~~~                                |
request 2  t7  |           ~~~~~~~~~~~                     |
request 3  t7  |                      ~~~~~~~~~~           |
process    t8  |                                ###########|
               0 ms    100 ms     200 ms     300 ms   400 ms
               1 column = 9.3 ms, # running on a CPU
               ~ waiting on I/O
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn every_line_fits_the_width_and_is_ascii_when_plain() {
    let spans: Vec<Span> = (0..50)
        .map(|i| {
            span(
                &format!("a rather long task name {i}"),
                SpanKind::Cpu,
                i * 3,
                i * 3 + 40,
                i,
            )
        })
        .collect();
    for width in [40, 80, 120] {
        let text = render(&spans, &TimelineStyle::plain(width));
        for line in text.lines() {
            assert!(line.is_ascii(), "{line}");
            assert!(line.len() <= width, "{} > {width}: {line}", line.len());
        }
    }
}

#[test]
fn a_single_zero_length_span_still_shows() {
    let text = render(
        &[span("blip", SpanKind::Cpu, 5, 5, 1)],
        &TimelineStyle::plain(50),
    );
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("blip  t1  |#"), "{text}");
    assert_eq!(first.matches('#').count(), 1);
}

#[test]
fn zero_length_spans_among_others_get_one_column() {
    let spans = vec![
        span("long", SpanKind::WaitIo, 0, 1000, 1),
        span("blip", SpanKind::Cpu, 500, 500, 2),
    ];
    let text = render(&spans, &TimelineStyle::plain(60));
    let blip = text.lines().find(|l| l.starts_with("blip")).unwrap();
    assert_eq!(blip.matches('#').count(), 1, "{text}");
}

#[test]
fn a_thousand_spans_are_capped_to_the_row_limit() {
    let spans: Vec<Span> = (0..1000)
        .map(|i| span(&format!("request {i}"), SpanKind::WaitIo, i, i + 500, 1))
        .collect();
    let style = TimelineStyle::plain(80);
    let text = render(&spans, &style);
    let rows = text.lines().filter(|l| l.contains('|')).count();
    // Rows plus the axis, which has no border.
    assert_eq!(rows, style.max_rows - 1);
    assert!(text.contains("(981 more rows not shown)"), "{text}");
}

#[test]
fn cpu_wins_a_shared_column_and_the_legend_lists_used_kinds_only() {
    let spans = vec![
        span("worker", SpanKind::WaitLock, 0, 100, 1),
        span("worker", SpanKind::Cpu, 0, 100, 1),
    ];
    let text = render(&spans, &TimelineStyle::plain(40));
    let row = text.lines().next().unwrap();
    assert!(row.contains('#') && !row.contains('!'), "{text}");
    let legend: String = text.lines().skip(2).collect();
    assert!(legend.contains("# running on a CPU"));
    assert!(legend.contains("! waiting for a lock"));
    assert!(!legend.contains("waiting on I/O"));
}

#[test]
fn rows_from_several_processes_name_the_process() {
    let spans = vec![
        Span::at("parent", SpanKind::Cpu, ms(0), ms(10)).on_thread("main", 1, 100),
        Span::at("child", SpanKind::Cpu, ms(0), ms(10)).on_thread("main", 2, 200),
    ];
    let text = render(&spans, &TimelineStyle::plain(60));
    assert!(text.contains("p100 t1"), "{text}");
    assert!(text.contains("p200 t2"), "{text}");
}

#[test]
fn fancy_style_uses_blocks_and_colour() {
    let style = TimelineStyle {
        fancy: true,
        ..TimelineStyle::plain(60)
    };
    let text = render(&[span("x", SpanKind::Cpu, 0, 10, 1)], &style);
    assert!(text.contains('█'));
    assert!(text.contains("\x1b["));
}

#[test]
fn no_spans_render_nothing() {
    assert_eq!(render(&[], &TimelineStyle::plain(80)), "");
}
