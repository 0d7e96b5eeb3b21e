# Section 1.1 in CPython: the book's listing 1.7 (synchronously reading status codes) with
# http.client, then asyncio awaiting one request at a time, and all of them with asyncio.gather.
# Arguments: the leg (python_blocking, asyncio_sequential or asyncio_gather), the URL, N.
import asyncio
import http.client
import ssl
from urllib.parse import urlsplit


def read_example(url, i):  # listing 1.7, http.client standing in for requests
    with span("request", i=i):
        https = url.scheme == "https"
        connection = (http.client.HTTPSConnection if https else http.client.HTTPConnection)(url.netloc)
        connection.request("GET", url.path or "/")
        status = connection.getresponse().status
        connection.close()
        return status


async def fetch_status(url):  # HTTP/1.1 written by hand over asyncio's streams
    tls = ssl.create_default_context() if url.scheme == "https" else None
    port = url.port or (443 if tls else 80)
    reader, writer = await asyncio.open_connection(url.hostname, port, ssl=tls)
    request = f"GET {url.path or '/'} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n"
    writer.write(request.encode())
    status = int((await reader.readline()).split()[1])
    await reader.read()  # the rest of the answer, until the server closes the connection
    writer.close()
    return status


async def asyncio_sequential(url, n):  # async code, still one request at a time
    return [await traced("request", fetch_status(url), i=i) for i in range(n)]


async def asyncio_gather(url, n):  # every request created first, then awaited together
    return await asyncio.gather(*[traced("request", fetch_status(url), i=i) for i in range(n)])


leg, url, n = ARGS[0], urlsplit(ARGS[1]), int(ARGS[2])
with span("leg", way=leg):
    if leg == "python_blocking":
        statuses = [read_example(url, i) for i in range(n)]
    else:
        statuses = asyncio.run({"asyncio_sequential": asyncio_sequential, "asyncio_gather": asyncio_gather}[leg](url, n))
answer(statuses)
