# Section 1.4 in CPython: a thread (threading) and a process (multiprocessing) that do nothing,
# started one after the other, each joined before the next. Each start-to-join is a span.
import multiprocessing
import threading
import time


def start_and_join(make, units, way):
    began = time.perf_counter()
    for _ in range(units):
        with span("python", way=way):
            # time.sleep(0) does nothing, and any start method finds it in a new process.
            unit = make(target=time.sleep, args=(0,))
            unit.start()
            unit.join()
    return (time.perf_counter() - began) * 1e3


if __name__ == "__main__":
    units = int(ARGS[0])
    threads_ms = start_and_join(threading.Thread, units, "thread start")
    processes_ms = start_and_join(multiprocessing.Process, units, "process start")
    answer({"thread_ms": threads_ms, "process_ms": processes_ms})
