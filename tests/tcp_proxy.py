"""A TCP proxy a test controls, to cut one client off from Redis and let it back.

``TcpProxy(("127.0.0.1", redis_port))`` listens on a free loopback port and forwards every
connection to the target. Two ways to cut the client off:

- :meth:`TcpProxy.cut` closes every open connection (the client sees a reset) and, while cut,
  accepts new connections only to close them at once (a refused reconnect);
- :meth:`TcpProxy.freeze` keeps every connection open but forwards nothing, either way (a
  silent partition: the client's requests go unanswered, nothing tells it why); what was
  sent meanwhile is delivered once :meth:`TcpProxy.restore` is called.

:meth:`TcpProxy.restore` forwards again. Threads only, no event loop.

Example:
    with TcpProxy(("127.0.0.1", 6379)) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0"   # give this URL to the client to cut off
        proxy.cut()
        ...
        proxy.restore()
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards loopback connections to ``target``; :meth:`cut` drops them all."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self._listener = socket.create_server((host, 0))
        self.host, self.port = host, self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._is_cut = False
        self._flowing = threading.Event()
        self._flowing.set()  # cleared while frozen
        self._closed = False
        self.accepted = 0  # connections forwarded
        self.refused = 0  # connections closed at once because the proxy was cut
        self.dropped = 0  # open connections closed by cut()
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self._thread.start()

    @property
    def is_cut(self) -> bool:
        return self._is_cut

    def cut(self) -> int:
        """Close every forwarded connection and refuse new ones; returns how many were open."""
        with self._lock:
            self._is_cut = True
            socks, self._sockets = list(self._sockets), set()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.dropped += len(socks) // 2
        return len(socks) // 2

    def freeze(self) -> None:
        """Stop forwarding on every connection, open or new, without closing any."""
        self._flowing.clear()

    def restore(self) -> None:
        """Forward again (new connections after a cut; held data after a freeze)."""
        self._is_cut = False
        self._flowing.set()

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._closed = True
        self._flowing.set()
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._is_cut:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._is_cut:  # cut while connecting
                    client.close()
                    upstream.close()
                    continue
                self._sockets.update((client, upstream))
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True,
                                 name="tcp-proxy-pipe").start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                with self._lock:
                    self._sockets.discard(sock)
