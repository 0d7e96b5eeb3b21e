# Section 1.7 and its summary, on asyncio's own loop: a ticker wants to run every 10 ms while a
# CPU-bound job runs on the loop, in a thread pool and in a process pool
# (loop.run_in_executor). The job is the Rust demo's: rounds of xorshift64, summed.
# Arguments: job_ms tick_ms margin_ms. Answers one row per place, with the Rust rows' fields.
import asyncio
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

MASK = (1 << 64) - 1


def cpu_job(iterations):
    x, total = 0x9E3779B97F4A7C15, 0
    for _ in range(iterations):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        total = (total + x) & MASK
    return total


def timed_job(place, iterations):
    """The job inside its span, wherever it runs: its start, end, checksum and span."""
    with span(f"{place} job"):
        started = time.monotonic()
        checksum = cpu_job(iterations)
        ended = time.monotonic()
    return started, ended, checksum, _SPANS[-1]


async def ticker(place, tick, ticks, stop):
    while not stop:
        due = time.monotonic() + tick
        await asyncio.sleep(tick)
        with span("ticker", place=place):
            ticks.append((due, time.monotonic()))


async def row(place, iterations, tick, margin):
    loop = asyncio.get_running_loop()
    ticks, stop = [], []
    ticking = asyncio.create_task(ticker(place, tick, ticks, stop))
    await asyncio.sleep(margin)
    if place == "asyncio_on_loop":
        job = timed_job(place, iterations)
    elif place == "run_in_executor_threads":
        with ThreadPoolExecutor(max_workers=1) as pool:
            job = await loop.run_in_executor(pool, timed_job, place, iterations)
    else:
        fork = multiprocessing.get_context("fork")  # the child has this program's functions
        with ProcessPoolExecutor(max_workers=1, mp_context=fork) as pool:
            job = await loop.run_in_executor(pool, timed_job, place, iterations)
            _SPANS.append(job[3])
    await asyncio.sleep(margin)
    stop.append(True)
    await ticking
    return job[:3], ticks


def measured(place, iterations, tick, margin):
    cpu = lambda: time.process_time() + sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
    started, cpu_before = time.monotonic(), cpu()
    (job_start, job_end, _), ticks = asyncio.run(row(place, iterations, tick, margin))
    wall, used, job = time.monotonic() - started, cpu() - cpu_before, job_end - job_start
    during = [ran for _, ran in ticks if job_start < ran < job_end]
    moments = [job_start] + during + [job_end]
    return {
        "name": place,
        "wall_ms": wall * 1e3,
        "worst_tick_lateness_ms": max((ran - due for due, ran in ticks), default=0) * 1e3,
        "ticks": len(ticks),
        "ticks_during_job": len(during),
        "job_ms": job * 1e3,
        "longest_silence_ms": max(b - a for a, b in zip(moments, moments[1:])) * 1e3,
        "job_cpu_per_s": used / job,
        "idle_core": used / job >= 0.8,
    }


def iterations_for(job_s):
    """Rounds of the job that take about job_s of CPU time here: measured, not assumed."""
    done, started = 0, time.thread_time()
    while time.thread_time() - started < 0.02:
        cpu_job(1000)
        done += 1000
    return max(1, int(job_s / ((time.thread_time() - started) / done)))


job_ms, tick_ms, margin_ms = (int(arg) for arg in ARGS)
iterations = iterations_for(job_ms / 1e3)
places = ["asyncio_on_loop", "run_in_executor_threads", "run_in_executor_processes"]
answer([measured(place, iterations, tick_ms / 1e3, margin_ms / 1e3) for place in places])
