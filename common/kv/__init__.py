"""Metadata key-value stores: the ``MetaKV`` interface, an in-memory and an etcd implementation."""
from common.kv.base import (
    DEFAULT_MAX_TXN_OPS,
    Fenced,
    Guard,
    LeaseNotFound,
    MetaKV,
    MetaKVError,
    WatchCallback,
    WatchEvent,
    WatchKind,
)
from common.kv.memory import MemoryKV

__all__ = [
    "DEFAULT_MAX_TXN_OPS",
    "Fenced",
    "Guard",
    "LeaseNotFound",
    "MemoryKV",
    "MetaKV",
    "MetaKVError",
    "WatchCallback",
    "WatchEvent",
    "WatchKind",
]
# EtcdKV lives in common.kv.etcd; import it from there (it pulls in grpc and pyetcd).
