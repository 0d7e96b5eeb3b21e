# Section 1.4 in CPython: a thread (threading) and a process (multiprocessing) that do nothing,
# started one after the other, each joined before the next. Each start-to-join is a span.
import multiprocessing
import threading
import time


def start_and_join(name, make, units, way):
    began = time.perf_counter()
    for _ in range(units):
        with span("python", way=way):
            # time.sleep(0) does nothing, and any start method finds it in a new process.
            unit = make(target=time.sleep, args=(0,))
            unit.start()
            unit.join()
    wall_ms = (time.perf_counter() - began) * 1e3
    return {"name": name, "units": units, "wall_ms": wall_ms, "per_unit_us": wall_ms * 1e3 / units}


if __name__ == "__main__":
    units = int(ARGS[0])
    answer([start_and_join("python_thread_start", threading.Thread, units, "thread start"),
            start_and_join("python_process_start", multiprocessing.Process, units, "process start")])
