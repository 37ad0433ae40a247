"""The leak check the cluster fixtures run at stop: it must see what a test leaves behind."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from tests.support.leaks import Resources, assert_no_leaks


def test_a_thread_left_running_is_reported_until_it_ends() -> None:
    before = Resources.now()
    release = threading.Event()
    worker = threading.Thread(target=release.wait, name="leaky-worker")
    worker.start()
    with pytest.raises(AssertionError, match="leaky-worker"):
        assert_no_leaks(before, settle_s=0.1)
    release.set()
    assert_no_leaks(before)


def test_an_open_socket_is_reported_until_closed() -> None:
    before = Resources.now()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    with pytest.raises(AssertionError, match="sockets"):
        assert_no_leaks(before, settle_s=0.1)
    listener.close()
    assert_no_leaks(before)


def test_a_child_process_is_reported_until_it_exits() -> None:
    before = Resources.now()
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        with pytest.raises(AssertionError, match="processes"):
            assert_no_leaks(before, settle_s=0.1)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)
    assert_no_leaks(before)
