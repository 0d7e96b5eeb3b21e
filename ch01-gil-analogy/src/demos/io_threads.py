# Section 1.5 beside the model: the GIL is released while a thread waits on I/O. `n` blocking
# requests (the book's listings 1.7 and 1.8), one after the other or in one thread each, in real
# CPython; each request is a span.
import threading
import time
import urllib.request


def get(url, i):
    # urlopen blocks in a system call; CPython releases the GIL around it.
    with span("thread", who=f"cpython request {i}"):
        with urllib.request.urlopen(url) as response:
            response.read()
            return response.status


def sequential(url, n):
    return [get(url, i) for i in range(1, n + 1)]


def in_threads(url, n):
    statuses = [0] * n

    def one(i):
        statuses[i - 1] = get(url, i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(1, n + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


url, n, way = ARGS[0], int(ARGS[1]), ARGS[2]
wall, cpu = time.perf_counter(), time.process_time()
statuses = (in_threads if way == "threads" else sequential)(url, n)
wall, cpu = (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3
answer({"wall_ms": wall, "cpu_ms": cpu, "statuses": statuses})
