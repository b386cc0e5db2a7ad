"""The simulator as a real threaded HTTP server (demo and benchmarks)."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .simulator import Simulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client pools connections
    server: SimulatorServer

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        reply = self.server.sim.api.handle(
            self.command, path, dict(self.headers.items()), body, query=query
        )
        if reply.drop:
            # Close the socket without a byte of response: the client sees a dropped connection.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if reply.delay:
            time.sleep(reply.delay)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)


class SimulatorServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer bound to one Simulator; `serve_in_thread()` for tests and benches."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, sim: Simulator, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False
    ):
        self.sim = sim
        self.verbose = verbose
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host, port = self.server_address[:2]
        assert isinstance(host, str)  # an AF_INET server: (host, port)
        return f"http://{host}:{port}"

    def start_delivery_loop(self, every: float = 1.0) -> None:
        """Send due webhooks in the background (the demo runs on the wall clock)."""

        def tick() -> None:
            while not self._stop.wait(every):
                self.sim.deliver_due()

        self._ticker = threading.Thread(target=tick, name="leap-sim-deliveries", daemon=True)
        self._ticker.start()

    def serve_in_thread(self) -> SimulatorServer:
        """Serve from a daemon thread; call `stop()` when done."""
        self._thread = threading.Thread(target=self.serve_forever, name="leap-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._stop.set()
        self.shutdown()
        self.server_close()

    def __enter__(self) -> SimulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
