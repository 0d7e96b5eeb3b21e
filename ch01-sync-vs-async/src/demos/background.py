# Section 1.1 in CPython: a slow request runs as a task in the background (asyncio.create_task)
# while the main task keeps ticking; the finished task wakes the main task, and `await task`
# hands over its result. Arguments: the URL, the tick in ms.
import asyncio
import ssl
import time
from urllib.parse import urlsplit


async def fetch_status(url):  # HTTP/1.1 written by hand over asyncio's streams
    tls = ssl.create_default_context() if url.scheme == "https" else None
    reader, writer = await asyncio.open_connection(url.hostname, url.port or (443 if tls else 80), ssl=tls)
    writer.write(f"GET {url.path or '/'} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n".encode())
    status = int((await reader.readline()).split()[1])
    await reader.read()
    writer.close()
    return status


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


async def main(url, tick):
    with span("run"):
        task = asyncio.create_task(traced("background task", fetch_status(url), in_="asyncio"))
        ticks, next_tick = 0, time.monotonic() + tick
        while True:
            # Sleep until the next tick or the task's end, whichever comes first.
            done, _ = await asyncio.wait({task}, timeout=max(0, next_tick - time.monotonic()))
            if done:
                return await task, ticks  # the notification: the finished task woke us
            ticks, next_tick = ticks + 1, next_tick + tick
            with span("main task", in_="asyncio"):
                fib(15)  # the main task's own work meanwhile


answer(asyncio.run(main(urlsplit(ARGS[0]), int(ARGS[1]) / 1000)))
