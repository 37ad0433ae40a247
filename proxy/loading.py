"""Proxy tasks for loading: load and release of collections and partitions, loading progress
and load state, and the load figures ShowCollections/ShowPartitions report for ``InMemory``.

Querycoord holds the load state (``ShowLoaded``); a collection is loaded whole (every
partition, later ones too) or partly (the partitions named by LoadPartitions).
"""
from __future__ import annotations

from collections.abc import Sequence

from common.errors import CollectionNotFound, CollectionNotLoaded, IndexNotFound, ParameterInvalid, PartitionNotLoaded
from common.status import success
from proto.internal import datacoord_pb2, querycoord_pb2
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
        self._check_indexed(collection, request.collection_name)
        self._env.context.querycoord.load_collection(self._request(collection))
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
        self._check_indexed(collection, request.collection_name)
        self._env.context.querycoord.load_partitions(self._request(collection, partition_ids))
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
    def _request(collection: CachedCollection, partition_ids: Sequence[int] = ()) -> datacoord_pb2.CollectionRequest:
        return datacoord_pb2.CollectionRequest(collection_id=collection.collection_id, collection=collection.info,
                                               partition_ids=partition_ids)

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
