//! The span recorder keeps every span, from any thread, and its geometry helpers are right.

use std::sync::Arc;
use std::time::Duration;

use shared::spans::{Span, SpanKind, SpanRecorder};

#[test]
fn eight_threads_lose_no_span() {
    let recorder = Arc::new(SpanRecorder::new());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let recorder = Arc::clone(&recorder);
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    for i in 0..1000 {
                        recorder.in_span(format!("t{t}-{i}"), SpanKind::Cpu, || ());
                    }
                })
                .unwrap()
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let spans = recorder.spans();
    assert_eq!(spans.len(), 8000);
    for t in 0..8 {
        let name = format!("worker-{t}");
        let mine: Vec<&Span> = spans.iter().filter(|s| s.thread_name == name).collect();
        assert_eq!(mine.len(), 1000, "spans of {name}");
        // All of one thread's spans carry the same OS thread id, different from the others'.
        assert!(mine.iter().all(|s| s.thread_id == mine[0].thread_id));
    }
    let mut ids: Vec<u64> = spans.iter().map(|s| s.thread_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8);
}

#[test]
fn spans_come_back_sorted_by_start() {
    let recorder = SpanRecorder::new();
    let ms = Duration::from_millis;
    recorder.push(Span::at("late", SpanKind::Cpu, ms(20), ms(30)));
    recorder.push(Span::at("early", SpanKind::Cpu, ms(0), ms(10)));
    let tasks: Vec<String> = recorder.spans().into_iter().map(|s| s.task).collect();
    assert_eq!(tasks, ["early", "late"]);
}

#[test]
fn overlap_and_containment() {
    let ms = Duration::from_millis;
    let outer = Span::at("outer", SpanKind::WaitIo, ms(0), ms(100));
    let inner = Span::at("inner", SpanKind::Cpu, ms(10), ms(20));
    let after = Span::at("after", SpanKind::Cpu, ms(100), ms(120));
    assert!(outer.overlaps(&inner) && inner.overlaps(&outer));
    assert!(outer.contains(&inner) && !inner.contains(&outer));
    assert!(!outer.overlaps(&after), "touching spans do not overlap");
}

#[test]
fn guard_records_on_drop_with_the_elapsed_time() {
    let recorder = SpanRecorder::new();
    {
        let _guard = recorder.start("held", SpanKind::WaitLock);
        std::thread::sleep(Duration::from_millis(20));
    }
    let span = &recorder.spans()[0];
    assert_eq!(span.kind, SpanKind::WaitLock);
    assert!(span.duration() >= Duration::from_millis(20));
}

#[test]
fn child_process_spans_merge_in_the_parents_time() {
    let parent = SpanRecorder::new();
    std::thread::sleep(Duration::from_millis(30));
    // What a child process would print: its own recorder, started later.
    let child = SpanRecorder::new();
    child.in_span("child fib", SpanKind::Cpu, || {
        std::thread::sleep(Duration::from_millis(10))
    });
    let printed = format!("hello from the child\n{}", child.to_json_lines());
    let rest = parent.merge_json_lines(&printed);
    assert_eq!(rest, ["hello from the child"]);
    let merged = parent.spans_of("child fib");
    assert_eq!(merged.len(), 1);
    // The child started 30 ms after the parent's origin; the merge keeps that offset.
    assert!(
        merged[0].start >= Duration::from_millis(25),
        "{:?}",
        merged[0]
    );
    assert!(merged[0].duration() >= Duration::from_millis(9));
}

#[tokio::test]
async fn async_spans_overlap_when_tasks_run_concurrently() {
    let recorder = Arc::new(SpanRecorder::new());
    let tasks = (0..3).map(|i| {
        let recorder = Arc::clone(&recorder);
        async move {
            recorder
                .in_span_async(format!("task {i}"), SpanKind::WaitIo, async {
                    tokio::time::sleep(Duration::from_millis(50)).await
                })
                .await
        }
    });
    futures::future::join_all(tasks).await;
    let spans = recorder.spans();
    assert_eq!(spans.len(), 3);
    assert!(spans[0].overlaps(&spans[1]) && spans[1].overlaps(&spans[2]));
}
