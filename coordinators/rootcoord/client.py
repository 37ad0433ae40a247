"""RootCoord over gRPC: the ``RootCoord`` Protocol (common/interfaces/rootcoord.py) as a client."""
from __future__ import annotations

from collections.abc import Callable

from common.rpc import DEFAULT_TIMEOUT_S, RpcClient
from proto.internal import meta_pb2, rootcoord_pb2, rootcoord_pb2_grpc
from proto.milvus import milvus_pb2


class RootCoordClient(RpcClient):
    """``address``: the node's, or a function finding the coordinator (see ``RpcClient``)."""

    def __init__(self, address: str | Callable[[], str], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(rootcoord_pb2_grpc.RootCoordStub, address, timeout_s)

    def get_component_state(self, request: meta_pb2.Empty) -> meta_pb2.ComponentStateResponse:
        return self._call(lambda s: s.GetComponentState, request)

    def create_collection(self, request: milvus_pb2.CreateCollectionRequest) -> None:
        self._call(lambda s: s.CreateCollection, request)

    def drop_collection(self, request: milvus_pb2.DropCollectionRequest) -> None:
        self._call(lambda s: s.DropCollection, request)

    def describe_collection(self, request: rootcoord_pb2.DescribeCollectionRequest
                            ) -> rootcoord_pb2.DescribeCollectionResponse:
        return self._call(lambda s: s.DescribeCollection, request)

    def show_collections(self, request: rootcoord_pb2.ShowCollectionsRequest
                         ) -> rootcoord_pb2.ShowCollectionsResponse:
        return self._call(lambda s: s.ShowCollections, request)

    def alloc_timestamp(self, request: rootcoord_pb2.AllocRequest) -> rootcoord_pb2.AllocTimestampResponse:
        return self._call(lambda s: s.AllocTimestamp, request)

    def alloc_id(self, request: rootcoord_pb2.AllocRequest) -> rootcoord_pb2.AllocIDResponse:
        return self._call(lambda s: s.AllocID, request)

    def has_collection(self, request: milvus_pb2.HasCollectionRequest) -> milvus_pb2.BoolResponse:
        return self._call(lambda s: s.HasCollection, request)

    def create_partition(self, request: milvus_pb2.CreatePartitionRequest) -> rootcoord_pb2.PartitionResponse:
        return self._call(lambda s: s.CreatePartition, request)

    def drop_partition(self, request: milvus_pb2.DropPartitionRequest) -> rootcoord_pb2.PartitionResponse:
        return self._call(lambda s: s.DropPartition, request)

    def create_alias(self, request: milvus_pb2.CreateAliasRequest) -> None:
        self._call(lambda s: s.CreateAlias, request)

    def drop_alias(self, request: milvus_pb2.DropAliasRequest) -> None:
        self._call(lambda s: s.DropAlias, request)

    def alter_alias(self, request: milvus_pb2.AlterAliasRequest) -> None:
        self._call(lambda s: s.AlterAlias, request)

    def describe_alias(self, request: milvus_pb2.DescribeAliasRequest) -> milvus_pb2.DescribeAliasResponse:
        return self._call(lambda s: s.DescribeAlias, request)

    def list_aliases(self, request: milvus_pb2.ListAliasesRequest) -> milvus_pb2.ListAliasesResponse:
        return self._call(lambda s: s.ListAliases, request)
