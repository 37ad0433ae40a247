"""RootCoord's gRPC service: each method delegates to ``RootCoord`` in one line or two."""
from __future__ import annotations

from common.rpc import guard_servicer
from common.status import success
from coordinators.rootcoord.core import RootCoord
from proto.internal import rootcoord_pb2, rootcoord_pb2_grpc
from proto.internal.meta_pb2 import ComponentStateResponse
from proto.milvus import milvus_pb2


@guard_servicer(rootcoord_pb2.DESCRIPTOR.services_by_name["RootCoord"])
class RootCoordService(rootcoord_pb2_grpc.RootCoordServicer):
    def __init__(self, core: RootCoord, node_id: int) -> None:
        self._core = core
        self._node_id = node_id

    def GetComponentState(self, request, context):
        return ComponentStateResponse(role=self._core.role, server_id=self._node_id, state=self._core.state.value)

    def CreateCollection(self, request, context):
        self._core.create_collection(request)
        return success()

    def DropCollection(self, request, context):
        self._core.drop_collection(request.collection_name)
        return success()

    def DescribeCollection(self, request, context):
        info = self._core.describe_collection(request.collection_name, request.collection_id)
        return rootcoord_pb2.DescribeCollectionResponse(collection=info)

    def ShowCollections(self, request, context):
        return rootcoord_pb2.ShowCollectionsResponse(collections=self._core.list_collections())

    def AllocTimestamp(self, request, context):
        count = max(request.count, 1)
        return rootcoord_pb2.AllocTimestampResponse(timestamp=self._core.alloc_timestamp(count), count=count)

    def AllocID(self, request, context):
        count = max(request.count, 1)
        return rootcoord_pb2.AllocIDResponse(begin=self._core.alloc_id(count), count=count)

    def HasCollection(self, request, context):
        return milvus_pb2.BoolResponse(value=self._core.has_collection(request.collection_name, request.time_stamp))

    def CreatePartition(self, request, context):
        info, partition = self._core.create_partition(request.collection_name, request.partition_name)
        return rootcoord_pb2.PartitionResponse(collection=info, partition=partition)

    def DropPartition(self, request, context):
        info, partition = self._core.drop_partition(request.collection_name, request.partition_name)
        return rootcoord_pb2.PartitionResponse(collection=info, partition=partition)

    def CreateAlias(self, request, context):
        self._core.create_alias(request.alias, request.collection_name)
        return success()

    def DropAlias(self, request, context):
        self._core.drop_alias(request.alias)
        return success()

    def AlterAlias(self, request, context):
        self._core.alter_alias(request.alias, request.collection_name)
        return success()

    def DescribeAlias(self, request, context):
        info = self._core.describe_alias(request.alias)
        return milvus_pb2.DescribeAliasResponse(db_name=info.db_name or "default", alias=request.alias,
                                                collection=info.name)

    def ListAliases(self, request, context):
        aliases = self._core.list_aliases(request.collection_name)
        return milvus_pb2.ListAliasesResponse(db_name="default", collection_name=request.collection_name,
                                              aliases=aliases)
