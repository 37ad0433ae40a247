"""Compute kernels written against an array namespace (NumPy, or CuPy on a GPU).

``backend`` picks the array module; ``distance`` holds the exact (brute-force) top-k kernels
and the pairwise distance matrix.
"""
from common.compute.backend import array_module, gpu_count, to_numpy
from common.compute.distance import (brute_force_search, metric_is_ascending, normalize,
                                     pairwise_distances, sq_norms)

__all__ = [
    "array_module", "gpu_count", "to_numpy", "brute_force_search", "metric_is_ascending",
    "normalize", "pairwise_distances", "sq_norms",
]
