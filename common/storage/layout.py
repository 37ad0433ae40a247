"""The object-storage key layout: every key a role writes and every prefix garbage collection
removes is built here, so writers (datanode, compactor, indexnode) and datacoord's garbage
collection cannot disagree.

Layout (keys relative to the storage root, see ``common/storage/base.py``)::

    insert_log/{coll}/{part}/{seg}/{seg}.parquet    a sealed segment (its id doubles as the log id)
    delta_log/{coll}/{channel}/{seal_offset}.parquet the deletes a channel's flush persisted
    index_files/{build_id}/index                     an index build's output

Garbage collection: ``insert_log_prefix(coll)`` and ``delta_log_prefix(coll)`` hold every file
of a collection, ``partition_insert_log_prefix(coll, part)`` every segment of a partition,
``index_file_prefix(build_id)`` the files of one build. Each prefix ends with ``/``, so the
prefix of collection 1 never covers collection 10.
"""
from __future__ import annotations

INSERT_LOG = "insert_log"
DELTA_LOG = "delta_log"
INDEX_FILES = "index_files"


def insert_log_path(collection_id: int, partition_id: int, segment_id: int) -> str:
    """The Parquet file of sealed segment ``segment_id`` (a flush or a compaction's target)."""
    return f"{partition_insert_log_prefix(collection_id, partition_id)}{segment_id}/{segment_id}.parquet"


def delta_log_path(collection_id: int, channel: str, seal_offset: int) -> str:
    """The delta log a channel's flush at broker offset ``seal_offset`` writes."""
    return f"{delta_log_prefix(collection_id)}{channel}/{seal_offset}.parquet"


def index_file_path(build_id: int) -> str:
    """The serialized index of build ``build_id``."""
    return f"{index_file_prefix(build_id)}index"


def insert_log_prefix(collection_id: int) -> str:
    """Every segment file of a collection."""
    return f"{INSERT_LOG}/{collection_id}/"


def partition_insert_log_prefix(collection_id: int, partition_id: int) -> str:
    """Every segment file of one partition."""
    return f"{insert_log_prefix(collection_id)}{partition_id}/"


def delta_log_prefix(collection_id: int) -> str:
    """Every delta log of a collection (all its channels)."""
    return f"{DELTA_LOG}/{collection_id}/"


def index_file_prefix(build_id: int) -> str:
    """Every file of one index build."""
    return f"{INDEX_FILES}/{build_id}/"
