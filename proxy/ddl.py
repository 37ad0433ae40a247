"""Proxy tasks for collections, indexes, loading and flushing. Each method validates its
request, calls the coordinators, and returns the public response message."""
from __future__ import annotations

import json

from common.errors import (CollectionNotFound, IndexNotFound, IndexNotSupported, ParameterInvalid)
from common.schema_proto import public_schema, validate_name
from common.status import success
from common.tso import parse_ts
from proto.internal import datacoord_pb2, meta_pb2, rootcoord_pb2
from proto.milvus import common_pb2, milvus_pb2, schema_pb2
from proxy.env import ProxyEnv
from proxy.params import parse_index_params

LOAD_STATE_NOT_EXIST = common_pb2.LoadState.Value("LoadStateNotExist")
LOAD_STATE_NOT_LOAD = common_pb2.LoadState.Value("LoadStateNotLoad")
LOAD_STATE_LOADING = common_pb2.LoadState.Value("LoadStateLoading")
LOAD_STATE_LOADED = common_pb2.LoadState.Value("LoadStateLoaded")


class DdlTasks:
    def __init__(self, env: ProxyEnv) -> None:
        self._env = env

    # -- collections -------------------------------------------------------------------------
    def create_collection(self, request: milvus_pb2.CreateCollectionRequest) -> common_pb2.Status:
        validate_name(request.collection_name, "collection")
        self._env.cache.invalidate(request.collection_name)
        self._env.coord("rootcoord").call("CreateCollection", request)
        return success()

    def drop_collection(self, request: milvus_pb2.DropCollectionRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        collection_request = datacoord_pb2.CollectionRequest(collection_id=collection.collection_id,
                                                             collection=collection.info)
        self._env.coord("querycoord").call("ReleaseCollection", collection_request)
        self._env.coord("rootcoord").call("DropCollection", request)
        self._env.cache.invalidate(request.collection_name)
        self._env.router.forget(collection.collection_id)
        self._env.indexes.invalidate(collection.collection_id)
        self._env.coord("datacoord").call("DropCollection", collection_request)
        return success()

    def describe_collection(self, request: milvus_pb2.DescribeCollectionRequest) -> milvus_pb2.DescribeCollectionResponse:
        if request.collectionID and not request.collection_name:
            info = self._env.coord("rootcoord").call(
                "DescribeCollection", rootcoord_pb2.DescribeCollectionRequest(collection_id=request.collectionID)
            ).collection
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
        try:
            self._env.cache.get(request.collection_name)
        except CollectionNotFound:
            return milvus_pb2.BoolResponse(status=success(), value=False)
        return milvus_pb2.BoolResponse(status=success(), value=True)

    def show_collections(self, request: milvus_pb2.ShowCollectionsRequest) -> milvus_pb2.ShowCollectionsResponse:
        infos = self._env.coord("rootcoord").call("ShowCollections", rootcoord_pb2.ShowCollectionsRequest()).collections
        response = milvus_pb2.ShowCollectionsResponse(status=success())
        for info in infos:
            response.collection_names.append(info.name)
            response.collection_ids.append(info.collection_id)
            response.created_timestamps.append(info.created_ts)
            response.created_utc_timestamps.append(parse_ts(info.created_ts)[0])
        return response

    def get_collection_statistics(self, request: milvus_pb2.GetCollectionStatisticsRequest
                                  ) -> milvus_pb2.GetCollectionStatisticsResponse:
        collection = self._env.cache.get(request.collection_name)
        stats = self._env.coord("datacoord").call(
            "GetStatistics", datacoord_pb2.CollectionRequest(collection_id=collection.collection_id)
        )
        return milvus_pb2.GetCollectionStatisticsResponse(
            status=success(), stats=[common_pb2.KeyValuePair(key="row_count", value=str(stats.row_count))]
        )

    # -- indexes -----------------------------------------------------------------------------
    def create_index(self, request: milvus_pb2.CreateIndexRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        field = collection.schema.field(request.field_name)
        if field is None or field.is_dynamic:
            raise ParameterInvalid(f"cannot create index on non-existent field: {request.field_name}")
        if not field.is_vector:
            raise IndexNotSupported(f"scalar indexes are not supported yet: field {field.name} is {field.dtype.name}")
        parsed = parse_index_params(request.extra_params, field.dtype)
        index = meta_pb2.IndexInfo(
            collection_id=collection.collection_id, index_name=request.index_name or field.name,
            field_id=field.field_id, field_name=field.name, index_type=parsed.index_type,
            metric_type=parsed.metric_type, params_json=json.dumps(parsed.params, sort_keys=True),
            user_params=request.extra_params,
        )
        self._env.indexes.invalidate(collection.collection_id)
        self._env.coord("datacoord").call(
            "CreateIndex", datacoord_pb2.CreateIndexRequest(collection=collection.info, index=index)
        )
        return success()

    def describe_index(self, request: milvus_pb2.DescribeIndexRequest) -> milvus_pb2.DescribeIndexResponse:
        collection = self._env.cache.get(request.collection_name)
        response = self._env.coord("datacoord").call("DescribeIndex", datacoord_pb2.DescribeIndexRequest(
            collection_id=collection.collection_id, index_name=request.index_name, field_name=request.field_name))
        if not response.indexes:
            raise IndexNotFound(f"index not found[collection={request.collection_name}]")
        out = milvus_pb2.DescribeIndexResponse(status=success())
        for progress in response.indexes:
            index = progress.index
            params = list(index.user_params)
            keys = {kv.key for kv in params}
            if "index_type" not in keys:
                params.append(common_pb2.KeyValuePair(key="index_type", value=index.index_type))
            if "metric_type" not in keys:
                params.append(common_pb2.KeyValuePair(key="metric_type", value=index.metric_type))
            out.index_descriptions.add(
                index_name=index.index_name, indexID=index.index_id, params=params, field_name=index.field_name,
                indexed_rows=progress.indexed_rows, total_rows=progress.total_rows, state=progress.state,
                index_state_fail_reason=progress.fail_reason,
                pending_index_rows=progress.total_rows - progress.indexed_rows,
            )
        return out

    def drop_index(self, request: milvus_pb2.DropIndexRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        if self._load_progress(collection.collection_id).loaded:
            raise ParameterInvalid("index cannot be dropped, collection is loaded, please release it first")
        self._env.coord("datacoord").call("DropIndex", datacoord_pb2.DropIndexRequest(
            collection_id=collection.collection_id, index_name=request.index_name, field_name=request.field_name))
        self._env.indexes.invalidate(collection.collection_id)
        return success()

    # -- loading -----------------------------------------------------------------------------
    def load_collection(self, request: milvus_pb2.LoadCollectionRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        indexes = self._env.coord("datacoord").call(
            "DescribeIndex", datacoord_pb2.DescribeIndexRequest(collection_id=collection.collection_id)
        ).indexes
        indexed = {p.index.field_name for p in indexes}
        for field in collection.schema.vector_fields:
            if field.name not in indexed:
                raise IndexNotFound(
                    f"there is no vector index on field: [{field.name}], please create index firstly: "
                    f"collection={request.collection_name}"
                )
        self._env.coord("querycoord").call(
            "LoadCollection", datacoord_pb2.CollectionRequest(collection_id=collection.collection_id,
                                                              collection=collection.info)
        )
        self._env.router.forget(collection.collection_id)
        return success()

    def release_collection(self, request: milvus_pb2.ReleaseCollectionRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        self._env.coord("querycoord").call(
            "ReleaseCollection", datacoord_pb2.CollectionRequest(collection_id=collection.collection_id)
        )
        self._env.router.forget(collection.collection_id)
        return success()

    def _load_progress(self, collection_id: int):  # type: ignore[no-untyped-def]
        return self._env.coord("querycoord").call(
            "GetLoadProgress", datacoord_pb2.CollectionRequest(collection_id=collection_id)
        )

    def get_loading_progress(self, request: milvus_pb2.GetLoadingProgressRequest
                             ) -> milvus_pb2.GetLoadingProgressResponse:
        collection = self._env.cache.get(request.collection_name)
        progress = self._load_progress(collection.collection_id)
        if not progress.loaded:
            from common.errors import CollectionNotLoaded

            raise CollectionNotLoaded(f"collection not loaded[collection={request.collection_name}]")
        return milvus_pb2.GetLoadingProgressResponse(status=success(), progress=progress.progress,
                                                     refresh_progress=progress.progress)

    def get_load_state(self, request: milvus_pb2.GetLoadStateRequest) -> milvus_pb2.GetLoadStateResponse:
        try:
            collection = self._env.cache.get(request.collection_name)
        except CollectionNotFound:
            return milvus_pb2.GetLoadStateResponse(status=success(), state=LOAD_STATE_NOT_EXIST)
        progress = self._load_progress(collection.collection_id)
        if not progress.loaded:
            state = LOAD_STATE_NOT_LOAD
        else:
            state = LOAD_STATE_LOADED if progress.progress >= 100 else LOAD_STATE_LOADING
        return milvus_pb2.GetLoadStateResponse(status=success(), state=state)

    # -- flush -------------------------------------------------------------------------------
    def flush(self, request: milvus_pb2.FlushRequest) -> milvus_pb2.FlushResponse:
        response = milvus_pb2.FlushResponse(status=success(), db_name=request.db_name or "default")
        for name in request.collection_names:
            collection = self._env.cache.get(name)
            result = self._env.coord("datacoord").call("Flush", datacoord_pb2.FlushRequest(collection=collection.info))
            response.coll_segIDs[name].CopyFrom(schema_pb2.LongArray(data=result.segment_ids))
            response.flush_coll_segIDs[name].CopyFrom(schema_pb2.LongArray(data=result.segment_ids))
            response.coll_flush_ts[name] = result.flush_ts
            response.coll_seal_times[name] = parse_ts(result.flush_ts)[0] // 1000
        return response

    def get_flush_state(self, request: milvus_pb2.GetFlushStateRequest) -> milvus_pb2.GetFlushStateResponse:
        if not request.collection_name:
            raise ParameterInvalid("GetFlushState needs collection_name (pymilvus >= 2.3 sends it)")
        collection = self._env.cache.get(request.collection_name)
        state = self._env.coord("datacoord").call("GetFlushState", datacoord_pb2.GetFlushStateRequest(
            collection_id=collection.collection_id, flush_ts=request.flush_ts))
        return milvus_pb2.GetFlushStateResponse(status=success(), flushed=state.flushed)
