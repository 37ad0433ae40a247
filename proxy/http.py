"""The proxy's HTTP endpoint: ``/healthz`` (200 when the proxy is healthy, 503 otherwise) and
``/metrics`` (Prometheus text format, from prometheus_client's default registry)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


class HealthServer:
    """Serves /healthz and /metrics on ``host:port`` (0 = a free port) from a daemon thread."""

    def __init__(self, host: str, port: int, is_healthy: Callable[[], bool]) -> None:
        health = is_healthy

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.startswith("/healthz"):
                    ok = health()
                    body = b"OK" if ok else b"unhealthy"
                    self._reply(200 if ok else 503, "text/plain", body)
                elif self.path.startswith("/metrics"):
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest())
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
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="proxy-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
