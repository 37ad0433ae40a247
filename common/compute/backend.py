"""Choice of array module: NumPy everywhere, CuPy when a usable GPU (and faiss-gpu) is present.

Contracts:
- ``gpu_count()`` never raises and never imports CuPy unless asked to: it returns 0 when
  ``MILVUSPY_FORCE_CPU=1``, when CuPy is missing or finds no driver, or when the installed faiss
  is the CPU build (GPU kernels and GPU indexes are used together or not at all). The answer is
  cached for the life of the process (``gpu_count.cache_clear()`` resets it, for tests).
- ``array_module()`` is ``numpy`` unless ``gpu_count() > 0``, then ``cupy``.
- ``to_numpy(x)`` returns a NumPy array for a NumPy or CuPy array (no copy for NumPy input).
"""
from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType
from typing import Any, cast

import numpy as np

FORCE_CPU_ENV = "MILVUSPY_FORCE_CPU"


@functools.cache
def gpu_count() -> int:
    """Number of GPUs usable by both CuPy and faiss; 0 on any doubt."""
    if os.environ.get(FORCE_CPU_ENV) == "1":
        return 0
    try:
        import cupy  # noqa: PLC0415  (lazy: CPU-only paths never pay its import)

        n = int(cupy.cuda.runtime.getDeviceCount())  # raises CUDARuntimeError without a driver
    except Exception:  # ImportError, CUDARuntimeError, OSError (missing libraries)
        return 0
    try:
        import faiss  # noqa: PLC0415

        if not hasattr(faiss, "StandardGpuResources"):  # faiss-cpu is installed
            return 0
        n = min(n, int(faiss.get_num_gpus()))
    except Exception:
        return 0
    return max(n, 0)


def array_module() -> ModuleType:
    """``cupy`` when a GPU is usable, else ``numpy``."""
    if gpu_count() > 0:
        return importlib.import_module("cupy")
    return np


def is_device_array(x: Any) -> bool:
    """True for a CuPy array (checked without importing CuPy)."""
    return type(x).__module__.split(".", 1)[0] == "cupy"


def array_module_of(x: Any) -> ModuleType:
    """The array module that owns ``x`` (``cupy`` for a CuPy array, else ``numpy``)."""
    if is_device_array(x):
        return importlib.import_module("cupy")
    return np


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array: CuPy arrays are copied to the host, NumPy arrays pass through."""
    if is_device_array(x):
        return cast(np.ndarray, x.get())  # CuPy is untyped: get() copies to a host ndarray
    return np.asarray(x)
