# Section 1.4 in CPython: a thread (threading) and a process (multiprocessing) that do nothing,
# started one after the other, each joined before the next. Each start-to-join is a span.
import multiprocessing
import resource
import threading
import time


def cpu_seconds():
    # Every thread of this process, and every child process that has ended: what starting costs,
    # without the time spent waiting for a CPU on a busy machine.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def start_and_join(name, make, units, way):
    began, cpu_began = time.perf_counter(), cpu_seconds()
    for _ in range(units):
        with span("python", way=way):
            # time.sleep(0) does nothing, and any start method finds it in a new process.
            unit = make(target=time.sleep, args=(0,))
            unit.start()
            unit.join()
    wall_ms = (time.perf_counter() - began) * 1e3
    cpu_us = (cpu_seconds() - cpu_began) * 1e6
    return {"name": name, "units": units, "wall_ms": wall_ms, "per_unit_us": wall_ms * 1e3 / units,
            "cpu_us_per_unit": cpu_us / units}


if __name__ == "__main__":
    units = int(ARGS[0])
    answer([start_and_join("python_thread_start", threading.Thread, units, "thread start"),
            start_and_join("python_process_start", multiprocessing.Process, units, "process start")])
