# Section 1.7, demo `timers`, on asyncio's own loop: N tasks each sleeping 1 s at once. A
# sleeping task is a Task, its coroutine and a TimerHandle in the loop's heap: no thread.
# Argument: n. Answers the batch's wall time and peak memory before and after.
import asyncio
import resource
import sys
import time


def peak_rss_kb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


async def main(n):
    started = time.monotonic()
    await asyncio.gather(*[asyncio.create_task(asyncio.sleep(1)) for _ in range(n)])
    return (time.monotonic() - started) * 1e3


start_rss_kb = peak_rss_kb()
with span("asyncio"):
    wall_ms = asyncio.run(main(int(ARGS[0])))
answer({"wall_ms": wall_ms, "peak_rss_kb": peak_rss_kb(), "start_rss_kb": start_rss_kb})
