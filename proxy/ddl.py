"""Proxy tasks for collections and flushing (indexes: ``proxy.indexes``; loading:
``proxy.loading``; partitions and aliases: ``proxy.partitions``, ``proxy.aliases``). Each
method validates its request, calls the coordinators, and returns the public response
message. A collection name may be an alias wherever a collection is read or written."""
from __future__ import annotations

from common.errors import CollectionNotLoaded, ParameterInvalid
from common.schema_proto import public_schema, validate_name
from common.status import success
from common.tso import parse_ts
from proto.internal import datacoord_pb2, rootcoord_pb2
from proto.milvus import common_pb2, milvus_pb2, schema_pb2
from proxy.env import ProxyEnv
from proxy.loading import SHOW_IN_MEMORY, LoadTasks


class DdlTasks:
    def __init__(self, env: ProxyEnv, loading: LoadTasks) -> None:
        self._env = env
        self._loading = loading

    # -- collections -------------------------------------------------------------------------
    def create_collection(self, request: milvus_pb2.CreateCollectionRequest) -> common_pb2.Status:
        validate_name(request.collection_name, "collection")
        self._env.cache.invalidate(request.collection_name)
        self._env.context.rootcoord.create_collection(request)
        return success()

    def drop_collection(self, request: milvus_pb2.DropCollectionRequest) -> common_pb2.Status:
        """Release and drop a collection and its data. Refused (before anything changes) for
        an alias and for a collection that still has aliases, as in Milvus."""
        self._env.cache.invalidate(request.collection_name)  # decide on fresh aliases
        collection = self._env.cache.get(request.collection_name)
        if collection.info.name != request.collection_name:
            raise ParameterInvalid(f"cannot drop the collection via alias = {request.collection_name}")
        if collection.info.aliases:
            raise ParameterInvalid(
                f"unable to drop the collection [{collection.info.name}] because it has associated aliases "
                f"{list(collection.info.aliases)}, please remove all aliases before dropping the collection")
        collection_request = datacoord_pb2.CollectionRequest(collection_id=collection.collection_id,
                                                             collection=collection.info)
        self._env.context.querycoord.release_collection(collection_request)
        self._env.context.rootcoord.drop_collection(request)
        self._env.cache.invalidate(request.collection_name)
        self._env.router.forget(collection.collection_id)
        self._env.indexes.invalidate(collection.collection_id)
        self._env.context.datacoord.drop_collection(collection_request)
        return success()

    def describe_collection(self, request: milvus_pb2.DescribeCollectionRequest
                            ) -> milvus_pb2.DescribeCollectionResponse:
        if request.collectionID and not request.collection_name:
            info = self._env.context.rootcoord.describe_collection(
                rootcoord_pb2.DescribeCollectionRequest(collection_id=request.collectionID)).collection
        else:
            info = self._env.cache.get(request.collection_name).info
        physical_ms, _ = parse_ts(info.created_ts)
        return milvus_pb2.DescribeCollectionResponse(
            status=success(), schema=public_schema(info.schema), collectionID=info.collection_id,
            virtual_channel_names=info.channels, physical_channel_names=info.channels,
            created_timestamp=info.created_ts, created_utc_timestamp=physical_ms, shards_num=info.shards_num,
            aliases=info.aliases, consistency_level=info.consistency_level, collection_name=info.name,
            properties=info.properties, db_name=info.db_name or "default", num_partitions=len(info.partitions),
            update_timestamp=info.update_ts,
        )

    def has_collection(self, request: milvus_pb2.HasCollectionRequest) -> milvus_pb2.BoolResponse:
        """Whether the collection (or alias) exists; with ``time_stamp``, whether it existed then
        (created at or before it and not yet dropped)."""
        validate_name(request.collection_name, "collection")
        return self._env.context.rootcoord.has_collection(milvus_pb2.HasCollectionRequest(
            collection_name=request.collection_name, time_stamp=request.time_stamp))

    def show_collections(self, request: milvus_pb2.ShowCollectionsRequest) -> milvus_pb2.ShowCollectionsResponse:
        """Every collection (``type`` All), or with ``InMemory`` the loaded ones (the named
        ones, which must be loaded) with their loading progress."""
        in_memory = request.type == SHOW_IN_MEMORY
        if in_memory and request.collection_names:
            infos = [self._env.cache.get(name).info for name in request.collection_names]
        else:
            shown = self._env.context.rootcoord.show_collections(rootcoord_pb2.ShowCollectionsRequest())
            infos = list(shown.collections)
        progress: dict[int, int] = {}
        if in_memory:
            loads = self._loading.show_loaded([i.collection_id for i in infos] if request.collection_names else [])
            progress = {load.collection_id: int(load.progress) for load in loads}
            for name, info in zip(request.collection_names, infos):
                if info.collection_id not in progress:
                    raise CollectionNotLoaded(f"collection not loaded[collection={name}]")
            infos = [i for i in infos if i.collection_id in progress]
        response = milvus_pb2.ShowCollectionsResponse(status=success())
        for info in infos:
            response.collection_names.append(info.name)
            response.collection_ids.append(info.collection_id)
            response.created_timestamps.append(info.created_ts)
            response.created_utc_timestamps.append(parse_ts(info.created_ts)[0])
            response.shards_num.append(info.shards_num)
            if in_memory:
                response.inMemory_percentages.append(progress[info.collection_id])
                response.query_service_available.append(progress[info.collection_id] >= 100)
        return response

    def get_collection_statistics(self, request: milvus_pb2.GetCollectionStatisticsRequest
                                  ) -> milvus_pb2.GetCollectionStatisticsResponse:
        collection = self._env.cache.get(request.collection_name)
        stats = self._env.context.datacoord.get_statistics(
            datacoord_pb2.CollectionRequest(collection_id=collection.collection_id))
        return milvus_pb2.GetCollectionStatisticsResponse(
            status=success(), stats=[common_pb2.KeyValuePair(key="row_count", value=str(stats.row_count))]
        )

    # -- flush -------------------------------------------------------------------------------
    def flush(self, request: milvus_pb2.FlushRequest) -> milvus_pb2.FlushResponse:
        response = milvus_pb2.FlushResponse(status=success(), db_name=request.db_name or "default")
        for name in request.collection_names:
            collection = self._env.cache.get(name)
            result = self._env.context.datacoord.flush(datacoord_pb2.FlushRequest(collection=collection.info))
            # As Milvus: the segments this flush seals, and those flushed before it.
            response.coll_segIDs[name].CopyFrom(schema_pb2.LongArray(data=result.sealed_segment_ids))
            response.flush_coll_segIDs[name].CopyFrom(schema_pb2.LongArray(data=result.segment_ids))
            response.coll_flush_ts[name] = result.flush_ts
            response.coll_seal_times[name] = parse_ts(result.flush_ts)[0] // 1000
        return response

    def get_flush_state(self, request: milvus_pb2.GetFlushStateRequest) -> milvus_pb2.GetFlushStateResponse:
        if not request.collection_name:
            raise ParameterInvalid("GetFlushState needs collection_name (pymilvus >= 2.3 sends it)")
        collection = self._env.cache.get(request.collection_name)
        state = self._env.context.datacoord.get_flush_state(datacoord_pb2.GetFlushStateRequest(
            collection_id=collection.collection_id, flush_ts=request.flush_ts))
        return milvus_pb2.GetFlushStateResponse(status=success(), flushed=state.flushed)
