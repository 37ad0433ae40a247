"""QueryCoord: load/release, which querynode serves which channel and segment (the
``QueryCoord`` service of ``proto/internal/querycoord.proto``)."""
from __future__ import annotations

from typing import Protocol

from common.interfaces.base import Role
from proto.internal import datacoord_pb2, querycoord_pb2


class QueryCoord(Role, Protocol):
    """Contract: see ``common.interfaces.base`` (MilvusError only, NodeNotAvailable when
    unreachable, requests are not mutated). A request names its collection by
    ``collection_id`` or by its ``collection`` record."""

    def load_collection(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Load every partition of a collection with ``replica_number`` replicas (0: 1)
        (idempotent); answers before the load completes. Raises ResourceGroupNodeNotEnough."""
        ...

    def release_collection(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Release a collection (no error when it is not loaded)."""
        ...

    def get_load_progress(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.LoadProgressResponse:
        """Whether the collection is loaded and how far (0..100)."""
        ...

    def get_shard_leaders(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.ShardLeadersResponse:
        """The serving querynodes of each channel, one per replica that serves it. Raises
        CollectionNotLoaded, ServiceUnavailable (a channel has no serviceable leader yet)."""
        ...

    def query_node_heartbeat(self, request: querycoord_pb2.QueryNodeHeartbeatRequest
                             ) -> querycoord_pb2.QueryNodeHeartbeatResponse:
        """A querynode reports what it holds and learns what it should hold."""
        ...

    def load_partitions(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Load more partitions (``partition_ids``); a collection loaded whole stays so."""
        ...

    def release_partitions(self, request: datacoord_pb2.CollectionRequest) -> None:
        """Release partitions; releasing every loaded partition releases the collection."""
        ...

    def show_loaded(self, request: querycoord_pb2.ShowLoadedRequest) -> querycoord_pb2.ShowLoadedResponse:
        """Load state of collections and of their partitions."""
        ...

    def load_balance(self, request: querycoord_pb2.LoadBalanceRequest) -> querycoord_pb2.LoadBalanceResponse:
        """Move sealed segments between querynodes; answers once every move is done or the
        request's timeout passed."""
        ...

    def get_segment_info(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.LoadedSegmentsResponse:
        """The sealed segments of a loaded collection and the querynodes holding them."""
        ...

    def get_replicas(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.ReplicasResponse:
        """The replicas of a loaded collection (none when it is not loaded): their querynodes
        and each channel's serviceable leader."""
        ...
