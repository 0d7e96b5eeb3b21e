# Section 1.2 in CPython: the book's listing 1.1. Fetching the page is I/O-bound, formatting its
# headers is CPU-bound; each step is a span, so its CPU time sits beside its wall time.
# Arguments: the URL, how long to keep formatting in ms.
import http.client
import time
from urllib.parse import urlsplit

url, cpu_ms = urlsplit(ARGS[0]), int(ARGS[1])
with span("io_bound", in_="CPython"):  # listing 1.1's requests.get(url), with http.client
    https = url.scheme == "https"
    connection = (http.client.HTTPSConnection if https else http.client.HTTPConnection)(url.netloc)
    connection.request("GET", url.path or "/")
    response = connection.getresponse()
    response.read()
    items = response.getheaders()
    connection.close()

rounds, until = 0, time.monotonic() + cpu_ms / 1000
with span("cpu_bound", in_="CPython"):  # listing 1.1's formatting, repeated so that it can be measured
    while time.monotonic() < until:
        headers = [f"{key}: {header}" for key, header in items]
        formatted_headers = "\n".join(headers)
        rounds += 1
answer(rounds)
