"""A reverse proxy that strips a path prefix, as nginx's `location /rt/ { proxy_pass
http://app/; }` does: enough of HTTP/1.1 for the tests of ROOT_PATH (one request a
connection, a websocket piped both ways once upgraded)."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@contextmanager
def stripping_proxy(upstream: str, prefix: str) -> Iterator[str]:
    """`http://127.0.0.1:PORT`, which forwards `PREFIX/path` to `upstream/path` (and answers
    404 outside the prefix), until the block ends."""
    host, port = upstream.removeprefix("http://").rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: the block ended
                return
            target = (host, int(port))
            threading.Thread(target=_forward, args=(client, target, prefix), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def _forward(client: socket.socket, upstream: tuple[str, int], prefix: str) -> None:
    with client:
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = client.recv(65536)
            if not chunk:
                return
            received += chunk
        head, body = received.split(b"\r\n\r\n", 1)
        request_line, *headers = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        if target != prefix and not target.startswith((f"{prefix}/", f"{prefix}?")):
            client.sendall(NOT_FOUND)
            return
        target = "/" + target[len(prefix) :].lstrip("/")
        if not any(header.lower().startswith("upgrade:") for header in headers):
            headers = [h for h in headers if not h.lower().startswith("connection:")]
            headers.append("Connection: close")  # one request a connection: each is rewritten
        headers += [f"X-Forwarded-For: {client.getpeername()[0]}", "X-Forwarded-Proto: http"]
        request = "\r\n".join([f"{method} {target} {version}", *headers, "", ""])
        try:
            server = socket.create_connection(upstream)
        except OSError:  # the app stopped first
            client.sendall(BAD_GATEWAY)
            return
        with server:
            server.sendall(request.encode("latin-1") + body)
            back = threading.Thread(target=_pipe, args=(server, client), daemon=True)
            back.start()
            _pipe(client, server)
            back.join(timeout=10)


def _pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy until either end closes, then close both ways."""
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    for end in (source, target):
        with suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
