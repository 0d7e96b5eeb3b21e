# Section 1.5 in CPython: N units each sleep 1 s at once, as asyncio tasks on one thread
# (asyncio.create_task) or as threads (threading.Thread). One way per run, in a fresh process, so
# the memory it reports is its own.
import asyncio
import resource
import sys
import threading
import time

NAP = 1.0


def peak_rss_kb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS counts bytes


def row(name, units, before_kb, began, spawn, threads_used, note=None):
    wall, cpu = spawn
    return {"name": name, "units": units, "wall_ms": (time.perf_counter() - began) * 1e3,
            "peak_rss_kb": peak_rss_kb(),
            "bytes_per_unit": (peak_rss_kb() - before_kb) * 1024 / max(units, 1),
            "spawn_us_per_unit": wall * 1e6 / max(units, 1),
            "spawn_cpu_us_per_unit": cpu * 1e6 / max(units, 1),
            "threads_used": threads_used, "note": note}


async def tasks(units):
    await asyncio.create_task(asyncio.sleep(0.001))  # the loop sets itself up once, not per task
    before_kb, began, cpu = peak_rss_kb(), time.perf_counter(), time.process_time()
    with span("python", way="asyncio tasks created"):
        sleepers = [asyncio.create_task(asyncio.sleep(NAP)) for _ in range(units)]
    spawn = (time.perf_counter() - began, time.process_time() - cpu)
    with span("python", way="asyncio tasks asleep"):
        await asyncio.gather(*sleepers)
    return row("asyncio_tasks", units, before_kb, began, spawn, threading.active_count())


def threads(units):
    one = threading.Thread(target=time.sleep, args=(0,))  # what the first thread sets up once
    one.start()
    one.join()
    before_kb, began, cpu = peak_rss_kb(), time.perf_counter(), time.process_time()
    sleepers, note, ran_on = [], None, set()

    def sleep():
        # Distinct OS threads, counted as they run: on a busy machine, starting 1000 threads can
        # take longer than the first one sleeps, so fewer than all are ever alive at once.
        ran_on.add(threading.get_native_id())
        time.sleep(NAP)

    with span("python", way="threads started"):
        for _ in range(units):
            thread = threading.Thread(target=sleep)
            try:
                thread.start()
            except RuntimeError as refused:
                note = f"the OS refused thread {len(sleepers) + 1} ({refused})"
                break
            sleepers.append(thread)
    spawn = (time.perf_counter() - began, time.process_time() - cpu)
    with span("python", way="threads asleep"):
        for thread in sleepers:
            thread.join()
    return row("python_threads", len(sleepers), before_kb, began, spawn, len(ran_on) + 1, note)


way, units = ARGS[0], int(ARGS[1])
answer(asyncio.run(tasks(units)) if way == "tasks" else threads(units))
