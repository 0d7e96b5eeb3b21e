# Section 1.7, demo `echo-bench`, on asyncio's own loop: asyncio's start_server echo server (the
# shape of the asyncio docs' echo example). Prints the address it listens on, serves until its
# standard input closes, then answers the bytes it echoed.
import asyncio
import sys

echoed = 0


async def echo(reader, writer):
    global echoed
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
        echoed += len(data)
    writer.close()


async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"{host}:{port}", flush=True)
    # Until the parent closes our standard input (read on a thread: the loop stays free).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()


with span("asyncio server"):
    asyncio.run(main())
answer({"bytes_echoed": echoed})
