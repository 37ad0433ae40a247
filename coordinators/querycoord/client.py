"""QueryCoord over gRPC: the ``QueryCoord`` Protocol (common/interfaces/querycoord.py) as a client."""
from __future__ import annotations

from collections.abc import Callable

from common.rpc import DEFAULT_TIMEOUT_S, RpcClient
from proto.internal import datacoord_pb2, meta_pb2, querycoord_pb2, querycoord_pb2_grpc


class QueryCoordClient(RpcClient):
    """``address``: the node's, or a function finding the coordinator (see ``RpcClient``)."""

    def __init__(self, address: str | Callable[[], str], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(querycoord_pb2_grpc.QueryCoordStub, address, timeout_s)

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        return self._call(lambda s: s.GetComponentState, request)

    def load_collection(self, request: datacoord_pb2.CollectionRequest) -> None:
        self._call(lambda s: s.LoadCollection, request)

    def release_collection(self, request: datacoord_pb2.CollectionRequest) -> None:
        self._call(lambda s: s.ReleaseCollection, request)

    def get_load_progress(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.LoadProgressResponse:
        return self._call(lambda s: s.GetLoadProgress, request)

    def get_shard_leaders(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.ShardLeadersResponse:
        return self._call(lambda s: s.GetShardLeaders, request)

    def query_node_heartbeat(self, request: querycoord_pb2.QueryNodeHeartbeatRequest
                             ) -> querycoord_pb2.QueryNodeHeartbeatResponse:
        return self._call(lambda s: s.QueryNodeHeartbeat, request)

    def load_partitions(self, request: datacoord_pb2.CollectionRequest) -> None:
        self._call(lambda s: s.LoadPartitions, request)

    def release_partitions(self, request: datacoord_pb2.CollectionRequest) -> None:
        self._call(lambda s: s.ReleasePartitions, request)

    def show_loaded(self, request: querycoord_pb2.ShowLoadedRequest) -> querycoord_pb2.ShowLoadedResponse:
        return self._call(lambda s: s.ShowLoaded, request)

    def load_balance(self, request: querycoord_pb2.LoadBalanceRequest) -> querycoord_pb2.LoadBalanceResponse:
        return self._call(lambda s: s.LoadBalance, request)

    def get_segment_info(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.LoadedSegmentsResponse:
        return self._call(lambda s: s.GetSegmentInfo, request)

    def get_replicas(self, request: datacoord_pb2.CollectionRequest) -> querycoord_pb2.ReplicasResponse:
        return self._call(lambda s: s.GetReplicas, request)
