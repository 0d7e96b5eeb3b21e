# Section 1.5 beside the model: the GIL is released while a thread waits on I/O. `n` blocking
# requests (the book's listings 1.7 and 1.8), one after the other or in one thread each, in real
# CPython. Prints one JSON line; the Rust demo reads it.
import json
import sys
import threading
import time
import urllib.request


def get(url):
    # urlopen blocks in a system call; CPython releases the GIL around it.
    with urllib.request.urlopen(url) as answer:
        answer.read()
        return answer.status


def timed(work):
    """Wall and CPU time (every thread of this process) of work(), in ms, and its value."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = work()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3, value


def sequential(url, n):
    return [get(url) for _ in range(n)]


def in_threads(url, n):
    statuses = [0] * n

    def one(i):
        statuses[i] = get(url)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


url, n, way = sys.argv[1], int(sys.argv[2]), sys.argv[3]
wall, cpu, statuses = timed(lambda: (in_threads if way == "threads" else sequential)(url, n))
print(json.dumps({"wall_ms": wall, "cpu_ms": cpu, "statuses": statuses}))
