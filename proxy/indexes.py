"""Proxy tasks for vector indexes: CreateIndex, DescribeIndex, GetIndexState,
GetIndexBuildProgress and DropIndex.

Datacoord owns the index definitions and their build tasks; these tasks resolve the collection,
check what only the proxy knows (the field exists and is a vector), and shape the answers.
Build progress counts the rows of the collection's flushed segments (``total_rows``) and of
those whose build finished (``indexed_rows``); growing rows are searched exactly and are not
indexed.

Selection of an index by GetIndexState / GetIndexBuildProgress / DropIndex: ``index_name`` when
given, else ``field_name`` (the Milvus 2.0 way), else the collection's only index. Errors:
IndexNotFound (700) when nothing matches; IndexDuplicate (702) when several indexes match
(a collection with several vector fields and no name given); DropIndex on a loaded collection is
ParameterInvalid, as in Milvus 2.x ("please release it first").
"""
from __future__ import annotations

import json

from common.errors import IndexDuplicate, IndexNotFound, IndexNotSupported, ParameterInvalid
from common.status import success
from proto.internal import datacoord_pb2, meta_pb2
from proto.milvus import common_pb2, milvus_pb2
from proxy.env import ProxyEnv
from proxy.loading import LoadTasks
from proxy.params import parse_index_params


class IndexTasks:
    def __init__(self, env: ProxyEnv, load: LoadTasks) -> None:
        self._env = env
        self._load = load

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
        self._env.context.datacoord.create_index(datacoord_pb2.CreateIndexRequest(collection=collection.info,
                                                                                 index=index))
        return success()

    def describe_index(self, request: milvus_pb2.DescribeIndexRequest) -> milvus_pb2.DescribeIndexResponse:
        out = milvus_pb2.DescribeIndexResponse(status=success())
        for progress in self._progress(request.collection_name, request.index_name, request.field_name):
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

    def get_index_state(self, request: milvus_pb2.GetIndexStateRequest) -> milvus_pb2.GetIndexStateResponse:
        progress = self._one(request.collection_name, request.index_name, request.field_name)
        return milvus_pb2.GetIndexStateResponse(status=success(), state=progress.state,
                                                fail_reason=progress.fail_reason)

    def get_index_build_progress(self, request: milvus_pb2.GetIndexBuildProgressRequest
                                 ) -> milvus_pb2.GetIndexBuildProgressResponse:
        progress = self._one(request.collection_name, request.index_name, request.field_name)
        return milvus_pb2.GetIndexBuildProgressResponse(status=success(), indexed_rows=progress.indexed_rows,
                                                        total_rows=progress.total_rows)

    def drop_index(self, request: milvus_pb2.DropIndexRequest) -> common_pb2.Status:
        collection = self._env.cache.get(request.collection_name)
        if self._load.loaded(collection) is not None:
            raise ParameterInvalid("index cannot be dropped, collection is loaded, please release it first")
        self._env.context.datacoord.drop_index(datacoord_pb2.DropIndexRequest(
            collection_id=collection.collection_id, index_name=request.index_name, field_name=request.field_name))
        self._env.indexes.invalidate(collection.collection_id)
        return success()

    # ------------------------------------------------------------------------------------------
    def _progress(self, collection_name: str, index_name: str, field_name: str) -> list[datacoord_pb2.IndexProgress]:
        """Datacoord's progress of the selected indexes (at least one; IndexNotFound otherwise)."""
        collection = self._env.cache.get(collection_name)
        indexes = list(self._env.context.datacoord.describe_index(datacoord_pb2.DescribeIndexRequest(
            collection_id=collection.collection_id, index_name=index_name, field_name=field_name)).indexes)
        if not indexes:
            raise IndexNotFound(f"index not found[collection={collection_name}][index={index_name or field_name}]")
        return indexes

    def _one(self, collection_name: str, index_name: str, field_name: str) -> datacoord_pb2.IndexProgress:
        indexes = self._progress(collection_name, index_name, field_name)
        if len(indexes) > 1:
            names = ", ".join(p.index.index_name for p in indexes)
            raise IndexDuplicate(f"there are multiple indexes ({names}), please specify the index_name")
        return indexes[0]
