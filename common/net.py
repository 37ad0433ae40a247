"""Small networking helpers."""
from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_STABLE_LOW = 20000


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The port is found by binding port 0 and closing the socket, so another process may take it
    before the caller binds it; callers that start servers should bind promptly.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def stable_free_port(attempts: int = 200) -> int:
    """A free port below the kernel's ephemeral range, for a server that must keep its port
    across restarts: the kernel never hands such a port to a socket bound to port 0, so it
    cannot be taken by another role of the cluster in the meantime.

    Raises OSError when no free port is found in ``attempts`` tries.
    """
    high = _ephemeral_low() - 1
    if high <= _STABLE_LOW:
        return free_port()
    for _ in range(attempts):
        port = random.randint(_STABLE_LOW, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no free port below the ephemeral range")
