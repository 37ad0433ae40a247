"""Servers the project can run as child processes (etcd for tests and single-machine runs)."""
from common.embedded.etcd import EmbeddedEtcd, find_etcd_binary

__all__ = ["EmbeddedEtcd", "find_etcd_binary"]
