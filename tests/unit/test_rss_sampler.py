"""bench/rss_sampler.py: roles found by command line, peaks per phase."""
from __future__ import annotations

import os
import subprocess
import sys

import psutil

from bench.rss_sampler import RssSampler, role_of


def test_roles_by_command_line_and_peaks_per_phase() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()",
                              "run", "querynode"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"  # exec'd and initialised (its RSS is a real figure)
        assert role_of(psutil.Process(child.pid), os.getpid()) == "querynode"
        assert role_of(psutil.Process(os.getpid()), os.getpid()) == "standalone"
        sampler = RssSampler(os.getpid(), interval_s=600).start()  # samples only at phase starts
        sampler.phase("load")
        ballast = bytearray(64 << 20)  # 64 MiB more in this ("standalone") process
        ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page
        sampler.phase("search")
        sampler.stop()
        peaks = sampler.report()["peak_rss_mb"]
    finally:
        child.communicate(b"")
    # other children of the test process (the session's etcd) may be sampled too
    assert {"standalone", "querynode"} <= set(peaks)
    assert peaks["querynode"]["load"] > 1
    assert peaks["standalone"]["search"] >= peaks["standalone"]["load"] + 60
    assert peaks["standalone"]["overall"] == peaks["standalone"]["search"]
    del ballast
