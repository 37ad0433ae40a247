"""Proxy tasks for partitions: create, drop, has, show (with in-memory percentages) and
statistics. Names follow Milvus's rules (rootcoord checks them, and the partition count
against ``rootcoord.max_partition_num``); ``_default`` cannot be dropped, and neither can a
loaded partition (release it first)."""
from __future__ import annotations

from common.errors import CollectionNotLoaded, ParameterInvalid, PartitionNotLoaded
from common.status import success
from common.tso import parse_ts
from proto.internal import datacoord_pb2, rootcoord_pb2
from proto.milvus import common_pb2, milvus_pb2
from proxy.env import ProxyEnv
from proxy.loading import SHOW_IN_MEMORY, LoadTasks
from proxy.meta_cache import CachedCollection


class PartitionTasks:
    def __init__(self, env: ProxyEnv, loading: LoadTasks) -> None:
        self._env = env
        self._loading = loading

    def create_partition(self, request: milvus_pb2.CreatePartitionRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        self._env.context.rootcoord.create_partition(milvus_pb2.CreatePartitionRequest(
            collection_name=collection.info.name, partition_name=request.partition_name))
        self._forget(collection, request.collection_name)
        return success()

    def drop_partition(self, request: milvus_pb2.DropPartitionRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        _require_name(request.partition_name)
        if request.partition_name == "_default":
            raise ParameterInvalid("default partition cannot be deleted")
        partition_id = collection.partition_id(request.partition_name)
        load = self._loading.loaded(collection, [partition_id])
        if load is not None and load.partitions[0].progress >= 0:
            raise ParameterInvalid("partition cannot be dropped, partition is loaded, please release it first"
                                   f"[partition={request.partition_name}]")
        dropped = self._env.context.rootcoord.drop_partition(milvus_pb2.DropPartitionRequest(
            collection_name=collection.info.name, partition_name=request.partition_name))
        self._forget(collection, request.collection_name)
        self._env.context.datacoord.drop_partition(datacoord_pb2.CollectionRequest(
            collection_id=collection.collection_id, partition_ids=[dropped.partition.partition_id]))
        return success()

    def has_partition(self, request: milvus_pb2.HasPartitionRequest) -> milvus_pb2.BoolResponse:
        collection = self._env.cache.get(request.collection_name)
        _require_name(request.partition_name)
        exists = any(p.name == request.partition_name for p in collection.info.partitions)
        return milvus_pb2.BoolResponse(status=success(), value=exists)

    def show_partitions(self, request: milvus_pb2.ShowPartitionsRequest) -> milvus_pb2.ShowPartitionsResponse:
        """Every partition (``type`` All); with ``InMemory`` the loaded ones (or the named ones,
        which must be loaded) with their loading progress."""
        if request.collectionID and not request.collection_name:
            info = self._env.context.rootcoord.describe_collection(rootcoord_pb2.DescribeCollectionRequest(
                collection_id=request.collectionID)).collection
            collection = self._env.cache.get(info.name)
        else:
            collection = self._env.cache.get(request.collection_name)
        partitions = list(collection.info.partitions)
        progress: dict[int, int] = {}
        if request.type == SHOW_IN_MEMORY:
            if request.partition_names:
                partitions = [collection.partition(name) for name in request.partition_names]
            load = self._loading.loaded(collection, [p.partition_id for p in partitions])
            if load is None:
                raise CollectionNotLoaded(f"collection not loaded[collection={collection.info.name}]")
            progress = {p.partition_id: int(p.progress) for p in load.partitions}
            if request.partition_names:
                missing = [p.name for p in partitions if progress[p.partition_id] < 0]
                if missing:
                    raise PartitionNotLoaded(f"partition not loaded[partition={missing[0]}]")
            partitions = [p for p in partitions if progress[p.partition_id] >= 0]
        response = milvus_pb2.ShowPartitionsResponse(status=success())
        for p in partitions:
            response.partition_names.append(p.name)
            response.partitionIDs.append(p.partition_id)
            response.created_timestamps.append(p.created_ts)
            response.created_utc_timestamps.append(parse_ts(p.created_ts)[0])
            if request.type == SHOW_IN_MEMORY:
                response.inMemory_percentages.append(progress[p.partition_id])
        return response

    def get_partition_statistics(self, request: milvus_pb2.GetPartitionStatisticsRequest
                                 ) -> milvus_pb2.GetPartitionStatisticsResponse:
        """Rows in the partition's flushed segments (``row_count``), as Milvus counts them."""
        collection = self._env.cache.get(request.collection_name)
        _require_name(request.partition_name)
        partition_id = collection.partition_id(request.partition_name)
        stats = self._env.context.datacoord.get_statistics(datacoord_pb2.CollectionRequest(
            collection_id=collection.collection_id, partition_ids=[partition_id]))
        return milvus_pb2.GetPartitionStatisticsResponse(
            status=success(), stats=[common_pb2.KeyValuePair(key="row_count", value=str(stats.row_count))])

    def _forget(self, collection: CachedCollection, requested_name: str) -> None:
        self._env.cache.invalidate(collection.info.name)
        self._env.cache.invalidate(requested_name)


def _require_name(name: str) -> None:
    if not name:
        raise ParameterInvalid("partition name should not be empty")

