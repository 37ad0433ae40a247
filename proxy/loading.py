"""Proxy tasks for loading: load and release of collections and partitions, loading progress
and load state, and the load figures ShowCollections/ShowPartitions report for ``InMemory``.

Querycoord holds the load state (``ShowLoaded``); a collection is loaded whole (every
partition, later ones too) or partly (the partitions named by LoadPartitions), with
``replica_number`` replicas (0: one); GetReplicas reports them.
"""
from __future__ import annotations

from collections.abc import Sequence

from common.errors import CollectionNotFound, CollectionNotLoaded, IndexNotFound, ParameterInvalid, PartitionNotLoaded
from common.status import success
from common.types import DEFAULT_RESOURCE_GROUP
from proto.internal import datacoord_pb2, querycoord_pb2, rootcoord_pb2
from proto.milvus import common_pb2, milvus_pb2
from proxy.env import ProxyEnv
from proxy.meta_cache import CachedCollection

LOAD_STATE_NOT_EXIST = common_pb2.LoadState.LoadStateNotExist
LOAD_STATE_NOT_LOAD = common_pb2.LoadState.LoadStateNotLoad
LOAD_STATE_LOADING = common_pb2.LoadState.LoadStateLoading
LOAD_STATE_LOADED = common_pb2.LoadState.LoadStateLoaded
#: ShowCollections / ShowPartitions ``type`` asking for the loaded ones with their progress.
SHOW_IN_MEMORY = milvus_pb2.ShowType.Value("InMemory")


class LoadTasks:
    def __init__(self, env: ProxyEnv) -> None:
        self._env = env

    # -- load and release --------------------------------------------------------------------
    def load_collection(self, request: milvus_pb2.LoadCollectionRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        _check_resource_groups(request.resource_groups)
        self._check_indexed(collection, request.collection_name)
        self._env.context.querycoord.load_collection(
            self._request(collection, replica_number=request.replica_number))
        self._env.router.forget(collection.collection_id)
        return success()

    def release_collection(self, request: milvus_pb2.ReleaseCollectionRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        self._env.context.querycoord.release_collection(self._request(collection))
        self._env.router.forget(collection.collection_id)
        return success()

    def load_partitions(self, request: milvus_pb2.LoadPartitionsRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        partition_ids = self._partition_ids(collection, request.partition_names)
        _check_resource_groups(request.resource_groups)
        self._check_indexed(collection, request.collection_name)
        self._env.context.querycoord.load_partitions(
            self._request(collection, partition_ids, replica_number=request.replica_number))
        self._env.router.forget(collection.collection_id)
        return success()

    def release_partitions(self, request: milvus_pb2.ReleasePartitionsRequest) -> common_pb2.Status:
        # Fresh metadata: releasing part of a collection loaded whole keeps its other partitions.
        self._env.cache.invalidate(request.collection_name)
        collection = self._env.cache.get(request.collection_name)
        partition_ids = self._partition_ids(collection, request.partition_names)
        self._env.context.querycoord.release_partitions(self._request(collection, partition_ids))
        self._env.router.forget(collection.collection_id)
        return success()

    @staticmethod
    def _request(collection: CachedCollection, partition_ids: Sequence[int] = (),
                 replica_number: int = 0) -> datacoord_pb2.CollectionRequest:
        return datacoord_pb2.CollectionRequest(collection_id=collection.collection_id, collection=collection.info,
                                               partition_ids=partition_ids, replica_number=replica_number)

    def get_replicas(self, request: milvus_pb2.GetReplicasRequest) -> milvus_pb2.GetReplicasResponse:
        """The replicas of a loaded collection (named by ``collectionID``, else by
        ``collection_name``; none when it is not loaded), with each channel's leader and, with
        ``with_shard_nodes``, the nodes serving the channel."""
        if request.collectionID:
            info = self._env.context.rootcoord.describe_collection(
                rootcoord_pb2.DescribeCollectionRequest(collection_id=request.collectionID)).collection
        elif request.collection_name:
            info = self._env.cache.get(request.collection_name).info
        else:
            raise ParameterInvalid("GetReplicas needs the collection id or name")
        answer = self._env.context.querycoord.get_replicas(
            datacoord_pb2.CollectionRequest(collection_id=info.collection_id))
        out = milvus_pb2.GetReplicasResponse(status=success())
        for replica in answer.replicas:
            item = out.replicas.add(replicaID=replica.replica_id, collectionID=info.collection_id,
                                    partition_ids=replica.partition_ids, node_ids=replica.node_ids,
                                    resource_group_name=DEFAULT_RESOURCE_GROUP)
            for shard in replica.shards:
                item.shard_replicas.add(leaderID=shard.leader_id, leader_addr=shard.leader_address,
                                        dm_channel_name=shard.channel,
                                        node_ids=shard.node_ids if request.with_shard_nodes else ())
        return out

    def _check_indexed(self, collection: CachedCollection, name: str) -> None:
        """Raise IndexNotFound unless every vector field has an index (Milvus loads indexed data only)."""
        indexes = self._env.context.datacoord.describe_index(
            datacoord_pb2.DescribeIndexRequest(collection_id=collection.collection_id)).indexes
        indexed = {p.index.field_name for p in indexes}
        for field in collection.schema.vector_fields:
            if field.name not in indexed:
                raise IndexNotFound(f"there is no vector index on field: [{field.name}], please create index "
                                    f"firstly: collection={name}")

    @staticmethod
    def _partition_ids(collection: CachedCollection, names: Sequence[str]) -> list[int]:
        if not names:
            raise ParameterInvalid("partition names should not be empty")
        return [collection.partition_id(name) for name in names]

    # -- state -------------------------------------------------------------------------------
    def loaded(self, collection: CachedCollection,
               partition_ids: Sequence[int] = ()) -> querycoord_pb2.LoadedCollection | None:
        """The load of ``collection`` (with the progress of each of ``partition_ids``, -1 for
        one not loaded), or None when it is not loaded."""
        found = self.show_loaded([collection.collection_id], partition_ids)
        return found[0] if found else None

    def show_loaded(self, collection_ids: Sequence[int],
                    partition_ids: Sequence[int] = ()) -> list[querycoord_pb2.LoadedCollection]:
        """The loaded ones of ``collection_ids`` (every loaded collection when empty)."""
        return list(self._env.context.querycoord.show_loaded(querycoord_pb2.ShowLoadedRequest(
            collection_ids=collection_ids, partition_ids=partition_ids)).collections)

    def _progress(self, collection: CachedCollection, partition_names: Sequence[str]) -> int:
        """Loading progress of the collection or of the named partitions (the least of them).
        Raises CollectionNotLoaded / PartitionNotLoaded / PartitionNotFound."""
        partition_ids = [collection.partition_id(name) for name in partition_names]
        load = self.loaded(collection, partition_ids)
        if load is None:
            raise CollectionNotLoaded(f"collection not loaded[collection={collection.info.name}]")
        if not partition_ids:
            return int(load.progress)
        for name, part in zip(partition_names, load.partitions):
            if part.progress < 0:
                raise PartitionNotLoaded(f"partition not loaded[partition={name}]")
        return int(min(p.progress for p in load.partitions))

    def get_loading_progress(self, request: milvus_pb2.GetLoadingProgressRequest
                             ) -> milvus_pb2.GetLoadingProgressResponse:
        collection = self._env.cache.get(request.collection_name)
        progress = self._progress(collection, request.partition_names)
        return milvus_pb2.GetLoadingProgressResponse(status=success(), progress=progress, refresh_progress=progress)

    def get_load_state(self, request: milvus_pb2.GetLoadStateRequest) -> milvus_pb2.GetLoadStateResponse:
        try:
            collection = self._env.cache.get(request.collection_name)
        except CollectionNotFound:
            return milvus_pb2.GetLoadStateResponse(status=success(), state=LOAD_STATE_NOT_EXIST)
        try:
            progress = self._progress(collection, request.partition_names)
        except (CollectionNotLoaded, PartitionNotLoaded):
            return milvus_pb2.GetLoadStateResponse(status=success(), state=LOAD_STATE_NOT_LOAD)
        state = LOAD_STATE_LOADED if progress >= 100 else LOAD_STATE_LOADING
        return milvus_pb2.GetLoadStateResponse(status=success(), state=state)


def _check_resource_groups(names: Sequence[str]) -> None:
    """Resource groups are not supported: only the default one may be named."""
    others = [name for name in names if name != DEFAULT_RESOURCE_GROUP]
    if others:
        raise ParameterInvalid(f"resource_groups {others} are not supported: every querynode is in "
                               f"{DEFAULT_RESOURCE_GROUP}")
