"""A TCP proxy that counts the HTTP requests passing through it (a test tool).

Put in front of a server the project does not control (`transformers serve`), it tells a test how
many requests reached the server from what went over the wire, not from the server's log, whose
wording changes between releases. Bytes are relayed unchanged both ways; the client-to-server
stream is read as HTTP/1.1 (request line, headers, a Content-Length body), so keep-alive
connections with several requests count right. A request is counted once it has been relayed
whole. When the server closes or resets its side, the client's connection is closed too, so a
server that dies mid-request looks to the client exactly as it would without the proxy.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter

MAX_HEAD = 64 * 1024


class CountingProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._changed = threading.Condition(self._lock)
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    # ------------------------------------------------------------------ what the tests read

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests relayed whole, optionally only those with this method and/or path."""
        with self._lock:
            return self._count_locked(method, path)

    def wait_for(self, at_least: int, timeout: float, method: str | None = None, path: str | None = None) -> bool:
        """Block until `count(method, path) >= at_least`; False if the timeout passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count_locked(method, path) >= at_least, timeout)

    def _count_locked(self, method: str | None, path: str | None) -> int:
        return sum(
            n for (m, p), n in self._counts.items() if (method is None or m == method) and (path is None or p == path)
        )

    def close(self) -> None:
        self._closed = True
        for sock in [self._listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    # ------------------------------------------------------------------ relaying

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()  # the server is gone: the client sees its connection closed
                continue
            self._sockets += [client, server]
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        """Server to client, byte for byte; when the server's side ends, so does the client's."""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (sink, source):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def _requests(self, client: socket.socket, server: socket.socket) -> None:
        """Client to server: relay each request and count it once its last byte is sent."""
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                    if len(buffer) > MAX_HEAD and b"\r\n\r\n" not in buffer:
                        raise ValueError("request head too long")
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    raise ValueError("chunked request bodies are not counted by this proxy")
                length = int(headers.get("content-length", "0"))
                server.sendall(head + b"\r\n\r\n")
                while length > 0:
                    if not buffer:
                        buffer = client.recv(65536)
                        if not buffer:
                            return
                    piece, buffer = buffer[:length], buffer[length:]
                    server.sendall(piece)
                    length -= len(piece)
                with self._changed:
                    self._counts[(method, path)] += 1
                    self._changed.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            try:
                server.shutdown(socket.SHUT_WR)
            except OSError:
                pass
