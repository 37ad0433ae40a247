"""The public ``milvus.proto.milvus.MilvusService``: one-line delegations to the proxy's tasks.

Every method is guarded, so any error reaches the client as a Status (never a gRPC error,
which pymilvus would retry for minutes). RPCs not defined here answer UNIMPLEMENTED.
"""
from __future__ import annotations

import random


from common.errors import DatabaseNotFound, Unimplemented
from common.rpc import guard_servicer
from common.status import success
from proto.milvus import common_pb2, milvus_pb2, milvus_pb2_grpc
from proxy.core import Proxy

SERVER_VERSION = "v2.6.0"
DEFAULT_DB = "default"


def _check_db(name: str) -> None:
    if name not in ("", DEFAULT_DB):
        raise DatabaseNotFound(f"database not found[database={name}]")


@guard_servicer(milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"])
class MilvusService(milvus_pb2_grpc.MilvusServiceServicer):
    def __init__(self, proxy: Proxy) -> None:
        self._proxy = proxy

    # -- connection and server ---------------------------------------------------------------
    def Connect(self, request, context):
        info = common_pb2.ServerInfo(build_tags=SERVER_VERSION, deploy_mode="CLUSTER", reserved={"engine": "milvus-py"})
        return milvus_pb2.ConnectResponse(status=success(), server_info=info, identifier=random.getrandbits(62))

    def GetVersion(self, request, context):
        return milvus_pb2.GetVersionResponse(status=success(), version=SERVER_VERSION)

    def CheckHealth(self, request, context):
        return milvus_pb2.CheckHealthResponse(status=success(), isHealthy=self._proxy.healthy)

    def AllocTimestamp(self, request, context):
        return milvus_pb2.AllocTimestampResponse(status=success(), timestamp=self._proxy.env.alloc_timestamp())

    def ListDatabases(self, request, context):
        return milvus_pb2.ListDatabasesResponse(status=success(), db_names=[DEFAULT_DB], db_ids=[1])

    def DescribeDatabase(self, request, context):
        _check_db(request.db_name)
        return milvus_pb2.DescribeDatabaseResponse(status=success(), db_name=DEFAULT_DB, dbID=1)

    def CreateDatabase(self, request, context):
        raise Unimplemented("databases other than 'default' are not supported yet")

    def DropDatabase(self, request, context):
        raise Unimplemented("databases other than 'default' are not supported yet")

    # -- collections -------------------------------------------------------------------------
    def CreateCollection(self, request, context):
        return self._proxy.ddl.create_collection(request)

    def DropCollection(self, request, context):
        return self._proxy.ddl.drop_collection(request)

    def HasCollection(self, request, context):
        return self._proxy.ddl.has_collection(request)

    def DescribeCollection(self, request, context):
        return self._proxy.ddl.describe_collection(request)

    def ShowCollections(self, request, context):
        return self._proxy.ddl.show_collections(request)

    def GetCollectionStatistics(self, request, context):
        return self._proxy.ddl.get_collection_statistics(request)

    def LoadCollection(self, request, context):
        return self._proxy.load.load_collection(request)

    def ReleaseCollection(self, request, context):
        return self._proxy.load.release_collection(request)

    def GetLoadingProgress(self, request, context):
        return self._proxy.load.get_loading_progress(request)

    def GetLoadState(self, request, context):
        return self._proxy.load.get_load_state(request)

    def GetReplicas(self, request, context):
        return self._proxy.load.get_replicas(request)

    # -- partitions --------------------------------------------------------------------------
    def CreatePartition(self, request, context):
        return self._proxy.partitions.create_partition(request)

    def DropPartition(self, request, context):
        return self._proxy.partitions.drop_partition(request)

    def HasPartition(self, request, context):
        return self._proxy.partitions.has_partition(request)

    def ShowPartitions(self, request, context):
        return self._proxy.partitions.show_partitions(request)

    def GetPartitionStatistics(self, request, context):
        return self._proxy.partitions.get_partition_statistics(request)

    def LoadPartitions(self, request, context):
        return self._proxy.load.load_partitions(request)

    def ReleasePartitions(self, request, context):
        return self._proxy.load.release_partitions(request)

    # -- aliases -----------------------------------------------------------------------------
    def CreateAlias(self, request, context):
        return self._proxy.aliases.create_alias(request)

    def DropAlias(self, request, context):
        return self._proxy.aliases.drop_alias(request)

    def AlterAlias(self, request, context):
        return self._proxy.aliases.alter_alias(request)

    def DescribeAlias(self, request, context):
        return self._proxy.aliases.describe_alias(request)

    def ListAliases(self, request, context):
        return self._proxy.aliases.list_aliases(request)

    # -- indexes -----------------------------------------------------------------------------
    def CreateIndex(self, request, context):
        return self._proxy.index.create_index(request)

    def DescribeIndex(self, request, context):
        return self._proxy.index.describe_index(request)

    def GetIndexState(self, request, context):
        return self._proxy.index.get_index_state(request)

    def GetIndexBuildProgress(self, request, context):
        return self._proxy.index.get_index_build_progress(request)

    def DropIndex(self, request, context):
        return self._proxy.index.drop_index(request)

    # -- data --------------------------------------------------------------------------------
    def Insert(self, request, context):
        return self._proxy.dml.insert(request)

    def Upsert(self, request, context):
        return self._proxy.dml.upsert(request)

    def Delete(self, request, context):
        return self._proxy.dml.delete(request)

    def Flush(self, request, context):
        return self._proxy.ddl.flush(request)

    def GetFlushState(self, request, context):
        return self._proxy.ddl.get_flush_state(request)

    def Search(self, request, context):
        return self._proxy.read.search(request)

    def Query(self, request, context):
        return self._proxy.read.query(request)

    def CalcDistance(self, request, context):
        return self._proxy.calc.calc_distance(request)

    # -- segments and compaction -------------------------------------------------------------
    def GetPersistentSegmentInfo(self, request, context):
        return self._proxy.segments.get_persistent_segment_info(request)

    def GetQuerySegmentInfo(self, request, context):
        return self._proxy.segments.get_query_segment_info(request)

    def ManualCompaction(self, request, context):
        return self._proxy.segments.manual_compaction(request)

    def GetCompactionState(self, request, context):
        return self._proxy.segments.get_compaction_state(request)

    def GetCompactionStateWithPlans(self, request, context):
        return self._proxy.segments.get_compaction_state_with_plans(request)

    # -- operations --------------------------------------------------------------------------
    def GetMetrics(self, request, context):
        return self._proxy.metrics.get_metrics(request)

    def LoadBalance(self, request, context):
        return self._proxy.balance.load_balance(request)


