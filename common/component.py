"""The lifecycle every role shares: ``start()`` once, ``stop()`` idempotently, a health state.

Subclasses override ``_start`` and ``_stop``; the public methods wrap them with a lock, state
transitions and failure handling, so a half-started component is stopped cleanly.
"""
from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable


class ComponentState(enum.Enum):
    INITIAL = "initial"
    STARTING = "starting"
    HEALTHY = "healthy"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class Component:
    """Base of every role's logic. ``role`` names the role (``proxy``, ``datanode`` ...)."""

    role: str = "component"

    def __init__(self) -> None:
        self._state = ComponentState.INITIAL
        self._lifecycle_lock = threading.Lock()
        self._stopping = threading.Event()
        self.log = logging.getLogger(f"milvuspy.{self.role}")

    @property
    def state(self) -> ComponentState:
        return self._state

    @property
    def healthy(self) -> bool:
        return self._state is ComponentState.HEALTHY

    def start(self) -> None:
        """Start the component. Raises RuntimeError if already started; re-raises a failure of
        ``_start`` after stopping what was started (state FAILED)."""
        with self._lifecycle_lock:
            if self._state is not ComponentState.INITIAL:
                raise RuntimeError(f"{self.role} cannot start from state {self._state.value}")
            self._state = ComponentState.STARTING
            try:
                self._start()
            except BaseException:
                self._state = ComponentState.FAILED
                self._stopping.set()
                try:
                    self._stop()
                except Exception:  # the start failure is the error worth reporting
                    self.log.exception("stop after failed start also failed")
                raise
            self._state = ComponentState.HEALTHY
            self.log.info("%s started", self.role)

    def stop(self) -> None:
        """Stop the component; safe to call more than once and from any state."""
        with self._lifecycle_lock:
            if self._state in (ComponentState.STOPPED, ComponentState.INITIAL, ComponentState.FAILED):
                self._state = ComponentState.STOPPED if self._state is not ComponentState.FAILED else self._state
                return
            self._state = ComponentState.STOPPING
            self._stopping.set()
            try:
                self._stop()
            finally:
                self._state = ComponentState.STOPPED
                self.log.info("%s stopped", self.role)

    def _start(self) -> None:
        """Start work. Override."""

    def _stop(self) -> None:
        """Release everything ``_start`` acquired. Must tolerate a partial start. Override."""

    def spawn(self, target: Callable[[], object], name: str) -> threading.Thread:
        """Run ``target()`` in a daemon thread named after the role; log if it dies by an error."""

        def run() -> None:
            try:
                target()
            except Exception:
                if not self._stopping.is_set():
                    self.log.exception("thread %s died", name)

        thread = threading.Thread(target=run, name=f"{self.role}-{name}", daemon=True)
        thread.start()
        return thread

    def run_every(self, interval_s: float, step: Callable[[], object], name: str) -> threading.Thread:
        """Call ``step()`` every ``interval_s`` until stop; an error in one call is logged and
        the loop goes on."""

        def loop() -> None:
            while not self._stopping.wait(interval_s):
                try:
                    step()
                except Exception:
                    if not self._stopping.is_set():
                        self.log.exception("%s failed", name)

        return self.spawn(loop, name)
