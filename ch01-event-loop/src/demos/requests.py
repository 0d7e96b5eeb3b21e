# Section 1.7, demo `requests`, on asyncio's own loop: the same N GETs, each a raw HTTP/1.1
# request over asyncio.open_connection, all created as tasks and gathered at once.
# Arguments: scheme host port path n. Answers the batch's wall time and the HTTP statuses.
import asyncio
import time


async def get(host, port, path, tls):
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    writer.write(request.encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    await reader.read()  # the rest of the answer, until the server closes
    writer.close()
    return status


async def main(host, port, path, tls, n):
    started = time.monotonic()
    tasks = [asyncio.create_task(traced("asyncio", get(host, port, path, tls))) for _ in range(n)]
    statuses = await asyncio.gather(*tasks)
    return (time.monotonic() - started) * 1e3, statuses


scheme, host, port, path, n = ARGS[0], ARGS[1], int(ARGS[2]), ARGS[3], int(ARGS[4])
wall_ms, statuses = asyncio.run(main(host, port, path, scheme == "https", n))
answer({"wall_ms": wall_ms, "statuses": statuses})
