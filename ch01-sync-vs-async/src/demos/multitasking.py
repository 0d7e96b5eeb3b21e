# Section 1.3 in CPython. `cooperative`: two asyncio tasks on one thread hand it over at every
# `await asyncio.sleep(0)`. `threads`: two threads pinned to one CPU never yield; the OS slices
# the CPU between them, and the GIL lets one run Python at a time, handed over every
# sys.getswitchinterval(). Arguments: the row, how long each task or thread is busy in ms, then
# the step in microseconds (cooperative) or the CPU to pin to (threads).
import asyncio
import os
import sys
import threading
import time


def spin_for(seconds):  # busy, never yielding
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        pass


async def take_turns(steps, step):
    for _ in range(steps):
        spin_for(step)
        await asyncio.sleep(0)  # the point where this task gives the thread up


async def cooperative(steps, step):
    await asyncio.gather(*[traced("task", take_turns(steps, step), task=task) for task in "AB"])


def current_cpu():  # field 39 of /proc/thread-self/stat
    return int(open("/proc/thread-self/stat").read().rsplit(")", 1)[1].split()[36])


def spinning_thread(name, busy, cpu, finished_on):
    os.sched_setaffinity(0, {cpu})  # this thread only: Linux pins threads one by one
    until = time.monotonic() + busy
    while time.monotonic() < until:
        with span("thread", thread=name):
            spin_for(0.001)
    finished_on.append(current_cpu())


row, busy = ARGS[0], int(ARGS[1]) / 1000
wall, cpu, finished_on = time.monotonic_ns(), time.process_time_ns(), []
if row == "cooperative":
    step = int(ARGS[2]) / 1e6
    asyncio.run(cooperative(max(1, int(busy / step)), step))
else:
    threads = [threading.Thread(target=spinning_thread, args=(name, busy, int(ARGS[2]), finished_on)) for name in "AB"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
wall, cpu = time.monotonic_ns() - wall, time.process_time_ns() - cpu
answer({"wall_ns": wall, "cpu_ns": cpu, "cpus": finished_on, "switch_interval_s": sys.getswitchinterval()})
