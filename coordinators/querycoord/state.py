"""The state QueryCoord's parts share: ``QueryCoordState`` holds the loads (persisted by a
``QueryCoordCatalog``), the collections' recovery infos and the querynodes' last reports, and
the helpers over them. ``QueryCoord`` (``core.py``) is this state with ``BalanceMixin``
(``balance.py``) mixed in, which derives from it, so it is type-checked against the state it
uses. Every record is read and changed under ``_lock``.
"""
from __future__ import annotations

import threading

from common.runtime import RoleComponent, RoleContext
from common.session import list_sessions
from coordinators.querycoord.catalog import QueryCoordCatalog
from coordinators.querycoord.progress import NodeView
from proto.internal import datacoord_pb2, querycoord_pb2


class QueryCoordState(RoleComponent):
    """QueryCoord's records and the helpers every part uses (see the module docstring)."""

    role = "querycoord"

    def __init__(self, context: RoleContext, catalog: QueryCoordCatalog) -> None:
        """``catalog`` holds the load records; ``context.kv`` is used for sessions only."""
        super().__init__(context.node_id)
        self._context = context
        self._kv = context.kv
        self._catalog = catalog
        self._interval = float(context.config.get("common", "heartbeat_interval_s"))
        self._lock = threading.RLock()
        self._loads: dict[int, querycoord_pb2.CollectionLoadInfo] = {}
        self._targets: dict[int, datacoord_pb2.RecoveryInfo] = {}
        self._nodes: dict[int, NodeView] = {}
        # The last known record of each placed segment: a compaction may drop it from the
        # target while its holder must keep serving it (see balance.py).
        self._placed_infos: dict[int, datacoord_pb2.SegmentWithIndex] = {}
        self._wake = threading.Event()
        self._last_warning = 0.0

    def _persist(self, load: querycoord_pb2.CollectionLoadInfo) -> None:
        self._catalog.save_load(load)

    def loaded_collection_count(self) -> int:
        """Collections loaded (or loading) now."""
        with self._lock:
            return len(self._loads)

    def live_querynode_count(self) -> int:
        """Querynodes with a live session."""
        return len(self._live_nodes())

    def _live_nodes(self) -> dict[int, str]:
        """The live querynodes (their sessions): node id -> address."""
        return {s.server_id: s.address for s in list_sessions(self._kv, "querynode")}
