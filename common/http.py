"""A role's HTTP endpoint: ``/healthz`` (200 "OK" when the role is healthy, 503 with the reason
otherwise) and ``/metrics`` (the role's metrics in the Prometheus text format), what
container health checks, Kubernetes probes and Prometheus scrape."""
from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common.metrics import CONTENT_TYPE

# Answers ``None`` when healthy, else why not.
HealthCheck = Callable[[], "str | None"]


class HealthServer:
    """Serves /healthz from ``check`` and /metrics from ``render_metrics`` on ``host:port``
    (0 = a free port) from a daemon thread; ``port`` is the bound port."""

    def __init__(self, host: str, port: int, check: HealthCheck, render_metrics: Callable[[], bytes],
                 name: str = "http") -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.startswith("/healthz"):
                    problem = check()
                    body = b"OK" if problem is None else f"unhealthy: {problem}".encode()
                    self._reply(200 if problem is None else 503, "text/plain", body)
                elif self.path.startswith("/metrics"):
                    self._reply(200, CONTENT_TYPE, render_metrics())
                else:
                    self._reply(404, "text/plain", b"not found")

            def _reply(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"{name}-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
