# Section 1.5 beside the model: the book's fib twice, one after the other (listing 1.5), then in
# two threads (listing 1.6), in real CPython. Each thread's fibs are a span, drawn beside the
# model's threads.
import sys
import threading
import time


def fib(n):
    # The book's fib, as the model interpreter runs it: fib(1) = 0, fib(2) = 1.
    if n < 2:
        return 0
    if n == 2:
        return 1
    return fib(n - 1) + fib(n - 2)


def timed(work):
    """Wall and CPU time (every thread of this process) of work(), in ms."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def size(budget):
    """The largest n whose fib(n) should take at most budget seconds here."""
    n, took = 10, 0.0
    while n < 40:
        took = timed(lambda: fib(n))[0] / 1e3
        if took >= 0.02:
            break
        n += 2
    while n < 40 and took * 1.618 <= budget:
        took, n = took * 1.618, n + 1
    return n


def fibs(n, name, times, start_line=None):
    with span("thread", who=name):
        if start_line:
            start_line.wait()  # both threads start together: neither gets a head start
        for _ in range(times):
            fib(n)


def two_threads(n):
    start_line = threading.Barrier(2)
    threads = [
        threading.Thread(target=fibs, args=(n, f"cpython {t}", 1, start_line)) for t in "AB"
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


n = size(float(ARGS[0]))
sequential = timed(lambda: fibs(n, "cpython main", 2))
threads = timed(lambda: two_threads(n))
# Free-threaded builds (3.13t, PEP 703) can run without the GIL; older ones always have it.
gil = sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True
answer({"gil_enabled": gil, "fib_n": n, "sequential": sequential, "threads": threads})
