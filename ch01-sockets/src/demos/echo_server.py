# Section 1.6, demo `echo-server`, row `python_selector`: the book's listing 3.7 in CPython.
# One thread, non-blocking sockets and a selector, under the same load as the three Rust servers.
# It prints its address, serves until its standard input closes (the demo registers it with the
# selector too), then answers its [voluntary, involuntary] context switches while it served. Each
# client is a `connection` span, entered for each of its turns, as on the Rust side.
import resource
import selectors
import socket
import sys

selector = selectors.DefaultSelector()

server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server_socket.bind(("127.0.0.1", 0))
server_socket.setblocking(False)
server_socket.listen(128)
selector.register(server_socket, selectors.EVENT_READ)
selector.register(sys.stdin, selectors.EVENT_READ)
print("%s:%d" % server_socket.getsockname(), flush=True)

connections = {}
before = resource.getrusage(resource.RUSAGE_SELF)
serving = True
while serving:
    for event, _ in selector.select():
        event_socket = event.fileobj
        if event_socket == server_socket:
            connection, address = server_socket.accept()
            connection.setblocking(False)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            selector.register(connection, selectors.EVENT_READ)
            connections[connection] = span("connection", n=len(connections))
        elif event_socket == sys.stdin:
            serving = False  # the demo is done with us
        else:
            turn = connections[event_socket]
            turn.enter()
            data = event_socket.recv(1024)
            if data:
                # The book's `send`: one line of this load fits the socket's buffer; a server
                # for any client would keep what does not fit (the Rust selector does).
                event_socket.sendall(data)
            else:
                selector.unregister(event_socket)
                event_socket.close()
            turn.exit()
            if not data:
                turn.close()

after = resource.getrusage(resource.RUSAGE_SELF)
answer([after.ru_nvcsw - before.ru_nvcsw, after.ru_nivcsw - before.ru_nivcsw])
