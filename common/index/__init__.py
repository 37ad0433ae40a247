"""Vector indexes: parameter validation (``params``) and faiss-backed indexes (``faiss_index``)."""
from common.index.faiss_index import VectorIndex, build_index, load_index
from common.index.params import default_metric, validate_index_params, validate_search_params

__all__ = [
    "VectorIndex", "build_index", "load_index", "default_metric", "validate_index_params",
    "validate_search_params",
]
