//! Section 1.7: deterministic tests of the hand-built loop. Each one would fail if a sentence of
//! the notes (or a promise of the loop's API) were false.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ch01_event_loop::event_loop::{
    EventLoop, TcpListener, TcpStream, block_on, sleep, sleep_until, spawn, yield_now,
};
use ch01_event_loop::observe::{Counts, LoopStats, subscriber};

/// Runs `work` with the loop's events counted by `stats`. Tests run in parallel, each with its own
/// thread-local subscriber; `tracing`'s global "most verbose level anyone wants", recomputed as
/// subscribers come and go, can be left too low (events lost): a global subscriber that wants
/// everything (the span recorder's) keeps it at TRACE.
fn counted<R>(stats: LoopStats, work: impl FnOnce() -> R) -> (R, Counts) {
    shared::trace::install();
    let result = tracing::subscriber::with_default(subscriber(&stats), work);
    (result, stats.get())
}

/// The notes: "when we create an event loop, we create an empty queue of tasks; we can add tasks
/// into the queue to run". Fails if a new loop started with work in it, if `spawn` ran its task
/// at once instead of queueing it, or if running the loop left work behind.
#[test]
fn a_new_loop_has_an_empty_queue_spawn_queues_and_running_empties_it() {
    let event_loop = EventLoop::new().unwrap();
    assert_eq!(event_loop.queued(), 0, "a new loop has nothing queued");
    assert_eq!(event_loop.task_count(), 0, "and no tasks");
    let ran = Rc::new(Cell::new(0));
    let after_spawn = event_loop.block_on(async {
        let handles = [(); 5].map(|()| {
            let ran = Rc::clone(&ran);
            spawn(async move { ran.set(ran.get() + 1) })
        });
        let after_spawn = (event_loop.queued(), event_loop.task_count(), ran.get());
        futures::future::try_join_all(handles).await.unwrap();
        after_spawn
    });
    assert_eq!(after_spawn, (5, 5, 0), "five tasks queued, none run yet");
    assert_eq!(ran.get(), 5, "the loop ran every queued task");
    assert_eq!((event_loop.queued(), event_loop.task_count()), (0, 0));

    // Negative control: the same check on a loop that does have work queued (a task spawned by
    // a main future that returned before the loop ran it) sees it.
    let busy = EventLoop::new().unwrap();
    busy.block_on(async { drop(spawn(async {})) });
    assert_eq!((busy.queued(), busy.task_count()), (1, 1));
}

/// A task woken in the same iteration as the main future, but behind it, has not run when
/// `block_on` returns: it keeps its place in the queue and runs in the next `block_on`. Fails if
/// the loop dropped the rest of the iteration's tasks when the main future finished.
#[test]
fn tasks_queued_behind_a_finished_main_future_run_in_the_next_block_on() {
    let event_loop = EventLoop::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let mut first_poll = true;
    event_loop.block_on(poll_fn(|cx| {
        if !std::mem::replace(&mut first_poll, false) {
            return Poll::Ready(());
        }
        // The next iteration takes [main, task]: main finishes first.
        cx.waker().wake_by_ref();
        let ran = Rc::clone(&ran);
        drop(spawn(async move { ran.set(true) }));
        Poll::Pending
    }));
    assert!(!ran.get(), "block_on returns once its own future is done");
    assert_eq!(event_loop.queued(), 1, "the task is still queued");
    event_loop.block_on(async {});
    assert!(ran.get(), "the next block_on ran it");
}

#[test]
fn ready_tasks_run_in_fifo_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    block_on(async {
        let handles = ["a", "b", "c"].map(|name| {
            let order = Rc::clone(&order);
            spawn(async move {
                order.borrow_mut().push(name);
                yield_now().await;
                order.borrow_mut().push(name);
            })
        });
        futures::future::try_join_all(handles).await.unwrap();
    });
    assert_eq!(*order.borrow(), ["a", "b", "c", "a", "b", "c"]);
}

#[test]
fn a_waker_called_twice_queues_twice_and_a_stale_wake_is_ignored() {
    let event_loop = EventLoop::new().unwrap();
    let (polls, release) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let saved: Rc<RefCell<Option<Waker>>> = Rc::default();
    let ((), counts) = counted(LoopStats::default(), || {
        event_loop.block_on(async {
            let task = {
                let (polls, saved, release) = (polls.clone(), saved.clone(), release.clone());
                spawn(poll_fn(move |cx| {
                    polls.set(polls.get() + 1);
                    *saved.borrow_mut() = Some(cx.waker().clone());
                    if release.get() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }))
            };
            // The queue is now [task, main]: the task is polled once before we continue.
            yield_now().await;
            assert_eq!(polls.get(), 1);
            let waker = saved.borrow().clone().unwrap();
            waker.wake_by_ref();
            waker.wake_by_ref();
            // Queue: [task, task, main]: one poll per wake.
            yield_now().await;
            assert_eq!(polls.get(), 3, "two wakes, two polls");
            release.set(true);
            waker.wake_by_ref();
            task.await.unwrap();
            assert_eq!(polls.get(), 4);
            // The task is gone: this wake finds no task and is ignored.
            waker.wake_by_ref();
            yield_now().await;
        })
    });
    assert_eq!(polls.get(), 4, "a stale wake must not poll anything");
    assert_eq!(counts.wakeups - counts.polls, 1, "one id, no poll");
    assert_eq!(event_loop.task_count(), 0);
}

/// The two 10 ms sleeps share the very same deadline: fails (after 30 s, not hanging) if the
/// timers kept one waker per deadline, since the other task would never be woken.
#[test]
fn timers_fire_in_deadline_order_and_never_early() {
    let (fired, counts) = within(30, || {
        let (fired, start) = (Rc::new(RefCell::new(Vec::new())), Instant::now());
        let ((), counts) = counted(LoopStats::default(), || {
            block_on(async {
                let mut handles = Vec::new();
                for (i, ms) in [30u64, 10, 25, 0, 15, 10].into_iter().enumerate() {
                    let fired = Rc::clone(&fired);
                    let deadline = start + Duration::from_millis(ms);
                    handles.push(spawn(async move {
                        sleep_until(deadline).await;
                        assert!(Instant::now() >= deadline, "timer {i} fired early");
                        fired.borrow_mut().push((ms, i));
                    }));
                }
                futures::future::try_join_all(handles).await.unwrap();
            })
        });
        (fired.take(), counts)
    });
    let mut expected = fired.clone();
    expected.sort();
    assert_eq!(fired, expected, "deadline order, ties in spawn order");
    // The zero-length sleep is already due at its first poll: no timer needed.
    assert_eq!(counts.timers_fired, 5);
    // The loop slept in the OS until the deadlines, rather than spinning on the clock.
    assert!(counts.waited >= Duration::from_millis(15), "{counts:?}");
}

#[test]
fn a_panicking_task_is_removed_and_the_others_go_on() {
    let event_loop = EventLoop::new().unwrap();
    let ((crashed, survivor), counts) = counted(LoopStats::default(), || {
        event_loop.block_on(async {
            let crashed = spawn(async {
                yield_now().await;
                panic!("boom in a task");
            });
            let survivor = spawn(async {
                sleep(Duration::from_millis(10)).await;
                5
            });
            (crashed.await, survivor.await)
        })
    });
    let error = crashed.unwrap_err();
    assert!(error.message.contains("boom in a task"), "{error}");
    assert!(error.to_string().contains("panicked: boom in a task"));
    assert_eq!(survivor.unwrap(), 5);
    assert_eq!(counts.panicked, 1);
    assert_eq!(event_loop.task_count(), 0);
}

/// Runs `test` on its own thread and fails if it takes longer than `limit_s` seconds: a lost
/// wake-up leaves a loop asleep forever, and the test should fail rather than hang.
fn within<T: Send + 'static>(limit_s: u64, test: fn() -> T) -> T {
    use std::sync::mpsc::RecvTimeoutError;
    let (done, finished) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || drop(done.send(test())));
    match finished.recv_timeout(Duration::from_secs(limit_s)) {
        Ok(value) => value,
        Err(RecvTimeoutError::Timeout) => panic!("still running after {limit_s} s: lost wake-up"),
        // Disconnected: the test panicked, and that panic is its failure.
        Err(_) => std::panic::resume_unwind(thread.join().unwrap_err()),
    }
}

/// A short read can arrive together with the end of stream, whose edge the OS reported earlier:
/// the loop must still see it (this once hung instead of failing).
#[test]
fn echo_over_the_loops_sockets_round_trips_one_megabyte_exactly() {
    within(60, || {
        const SIZE: usize = 1024 * 1024;
        let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 251) as u8).collect();
        let (echoed, counts) = counted(LoopStats::default(), || {
            block_on(async {
                let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
                let addr = listener.local_addr().unwrap();
                // The server echoes in small pieces: many partial reads and writes.
                let server = spawn(async move {
                    let (connection, _) = listener.accept().await.unwrap();
                    let mut buf = [0u8; 1000];
                    while let n @ 1.. = connection.read(&mut buf).await.unwrap() {
                        connection.write_all(&buf[..n]).await.unwrap();
                    }
                });
                let client = Rc::new(TcpStream::connect(addr).await.unwrap());
                // Write and read at the same time: a megabyte does not fit in the socket buffers.
                let writer = {
                    let (client, data) = (client.clone(), data.clone());
                    spawn(async move {
                        client.write_all(&data).await.unwrap();
                        client.shutdown_write().unwrap();
                    })
                };
                let (mut received, mut buf) = (Vec::with_capacity(SIZE), vec![0u8; 64 * 1024]);
                while let n @ 1.. = client.read(&mut buf).await.unwrap() {
                    received.extend_from_slice(&buf[..n]);
                }
                writer.await.unwrap();
                server.await.unwrap();
                received
            })
        });
        // The loop learned that data had arrived from the OS's readiness events.
        assert!(counts.io_events > 0, "{counts:?}");
        // The server echoes 1000 bytes at a time and the client reads 64 KiB at a time, so the
        // megabyte crosses the loop in hundreds of partial reads and writes: a lost, repeated or
        // reordered piece, or a missed wake-up (the test then fails after 60 s), shows here.
        assert_eq!(echoed.len(), SIZE);
        assert!(echoed == data, "every byte back, in order");
    });
}

/// The trap of edge-triggered readiness: the OS reports data and end of stream in one edge, the
/// loop notes it, and the task's read then gets the data alone (less than it asked). The next
/// read must return 0 at once: no further edge will come. Fails (after 30 s, not hanging) if a
/// short read made the socket wait for an edge even after its end.
#[test]
fn the_read_after_a_short_read_sees_an_end_of_stream_reported_earlier() {
    within(30, || {
        block_on(async {
            let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(async move {
                let (connection, _) = listener.accept().await.unwrap();
                connection.write_all(b"last words").await.unwrap();
                // Dropped here: the connection closes after its last words.
            });
            let client = TcpStream::connect(addr).await.unwrap();
            server.await.unwrap();
            // Meanwhile the loop waits in the OS and takes its report: data, then end of stream.
            sleep(Duration::from_millis(50)).await;
            let mut buf = [0u8; 64];
            let n = client.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"last words");
            assert_eq!(client.read(&mut buf).await.unwrap(), 0, "end of stream");
        })
    });
}

#[test]
fn connecting_to_a_closed_port_fails_cleanly() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    assert!(block_on(TcpStream::connect(addr)).is_err());
}

/// The listener's accept queue is full, so the kernel drops our SYN and the handshake is still
/// in progress at the first poll (the SYN is sent again after about a second). Fails where a
/// socket still connecting ("not connected" yet) is taken for a failed connect.
#[test]
fn a_connect_still_in_progress_waits_instead_of_failing() {
    within(60, || {
        use socket2::{Domain, Socket, Type};
        use std::future::Future;
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        listener.bind(&local.into()).unwrap();
        listener.listen(0).unwrap(); // room for one connection not yet accepted
        let listener: std::net::TcpListener = listener.into();
        let addr = listener.local_addr().unwrap();
        let filler = std::net::TcpStream::connect(addr).unwrap();
        let (go, accept) = std::sync::mpsc::channel::<()>();
        let acceptor = std::thread::spawn(move || {
            accept.recv().unwrap();
            // The filler, then ours once its SYN comes again.
            [(); 2].map(|()| listener.accept().unwrap().0)
        });
        block_on(async {
            let mut connect = std::pin::pin!(TcpStream::connect(addr));
            let first = poll_fn(|cx| Poll::Ready(connect.as_mut().poll(cx))).await;
            go.send(()).unwrap();
            let client = match first {
                Poll::Ready(result) => result.expect("the first poll of connect failed"),
                Poll::Pending => connect.await.expect("connect failed after waiting"),
            };
            client.write_all(b"hi").await.unwrap();
        });
        let accepted = acceptor.join().unwrap();
        let mut got = [0u8; 2];
        std::io::Read::read_exact(&mut &accepted[1], &mut got).unwrap();
        assert_eq!(&got, b"hi");
        drop(filler);
    });
}

#[test]
fn futures_join_all_select_and_channels_run_unchanged() {
    use futures::future::{self, Either};
    use futures::{SinkExt, StreamExt};
    block_on(async {
        let joined = future::join_all((0..5u64).map(|i| async move {
            sleep(Duration::from_millis(5 * (5 - i))).await;
            i
        }))
        .await;
        assert_eq!(joined, [0, 1, 2, 3, 4]);

        let quick = Box::pin(sleep(Duration::from_millis(5)));
        let slow = Box::pin(sleep(Duration::from_secs(60)));
        assert!(matches!(future::select(quick, slow).await, Either::Left(_)));

        let (mut sender, receiver) = futures::channel::mpsc::channel::<u32>(4);
        let producer = spawn(async move {
            for i in 0..100 {
                sender.send(i).await.unwrap();
            }
        });
        let received: Vec<u32> = receiver.collect().await;
        producer.await.unwrap();
        assert_eq!(received, (0..100).collect::<Vec<_>>());
    });
}

/// Fails (after 30 s, not hanging) if the other thread's wake did not end the loop's sleep: the
/// loop would sleep forever (no socket, no timer).
#[test]
fn a_wake_from_another_thread_interrupts_the_loops_sleep() {
    let (value, counts) = within(30, || {
        counted(LoopStats::default(), || {
            block_on(async {
                let (sender, receiver) = futures::channel::oneshot::channel();
                let thread = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    sender.send(7).unwrap();
                });
                let value = receiver.await.unwrap();
                thread.join().unwrap();
                value
            })
        })
    });
    assert_eq!(value, 7);
    // No socket and no timer: only the mio::Waker could have ended the wait.
    assert_eq!((counts.timers_fired, counts.io_events), (0, 0));
}

#[test]
fn the_trace_prints_every_iteration_and_the_counts_agree() {
    let path = std::env::temp_dir().join(format!("ch01-event-loop-trace-{}", std::process::id()));
    let stats = LoopStats::printing_to(Box::new(std::fs::File::create(&path).unwrap()));
    let ((), counts) = counted(stats, || {
        block_on(async { spawn(sleep(Duration::from_millis(5))).await.unwrap() })
    });
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, counts.iterations, "{text}");
    assert_eq!(counts.timers_fired, 1);
    // main spawns the task; the task registers its sleep; the timer fires; the task ends and
    // wakes main. Four polls of main and task, over at least three iterations.
    assert_eq!(counts.polls, 4, "{text}");
    for (line, start) in [(0, "1: polled 1 task (main)"), (1, "2: polled 1 task (#0)")] {
        let start = format!("[loop] iteration {start}");
        assert!(lines[line].starts_with(&start), "{text}");
    }
    assert!(text.contains("1 timer fired"), "{text}");
}

/// A signal that arrives while the loop sleeps in `epoll_wait` cuts the sleep short (`EINTR`,
/// which the OS never restarts for epoll): the loop must just wait again. Fails if the loop
/// took the interruption for a failure of the OS readiness queue.
#[cfg(unix)]
#[test]
fn a_signal_during_the_loops_sleep_only_makes_it_wait_again() {
    extern "C" fn do_nothing(_: libc::c_int) {}
    // SAFETY: the handler does nothing, so it is async-signal-safe; no other test uses SIGUSR1.
    unsafe { libc::signal(libc::SIGUSR1, do_nothing as *const () as libc::sighandler_t) };
    let (started, thread_id) = std::sync::mpsc::channel();
    let sleeper = std::thread::spawn(move || {
        // SAFETY: `pthread_self` only reads the calling thread's id.
        started.send(unsafe { libc::pthread_self() }).unwrap();
        let sleep_300_ms = || block_on(sleep(Duration::from_millis(300)));
        counted(LoopStats::default(), sleep_300_ms).1
    });
    let thread = thread_id.recv().unwrap();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(20));
        // SAFETY: the thread has not been joined yet, so its id is still valid.
        unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
    }
    let counts = sleeper.join().expect("the loop survived the signals");
    assert_eq!(counts.timers_fired, 1, "the sleep still ended by its timer");
}
