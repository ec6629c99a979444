"""A TCP proxy in front of the sandbox's API server, to take the API away from one test only.

Killing the shared sandbox's kube-apiserver would break every other session on the machine. What a
client sees when kube-apiserver restarts is its connections reset and new ones refused until it is
back; `down()` does exactly that to the clients of this proxy (gripctl and its helm, pointed at it by
a copy of the kubeconfig), and `up()` serves again on the same port. TLS passes through untouched:
the server's certificate names 127.0.0.1, whatever the port. (The real thing — kube-apiserver killed,
etcd paused — runs against a private named sandbox: test_control_plane.py.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import yaml


class ApiProxy:
    def __init__(self, upstream: str) -> None:
        url = urlparse(upstream)
        self.upstream = (url.hostname or "127.0.0.1", url.port or 443)
        self._listener: socket.socket | None = None
        self.port = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0  # accepted so far (a test can tell the proxy was really used)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and reset every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            # shutdown, not only close: a close does not wake the pump blocked in recv() on it, and
            # the connection would live on. Both ends see the connection end, as when a process dies.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # went down meanwhile
                    client.close()
                    server.close()
                    return
                self._open |= {client, server}
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)

    def kubeconfig(self, source: Path, context: str, path: Path) -> Path:
        """A copy of `source` whose `context` reaches the API server through this proxy."""
        data = yaml.safe_load(source.read_text())
        ctx = next(c for c in data["contexts"] if c["name"] == context)
        cluster = next(c for c in data["clusters"] if c["name"] == ctx["context"]["cluster"])
        cluster["cluster"]["server"] = self.url
        path.write_text(yaml.safe_dump(data))
        path.chmod(0o600)
        return path
