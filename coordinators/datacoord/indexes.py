"""DataCoord's indexes and their build tasks (mixed into ``DataCoord``, whose state and lock
they use): one index per vector field; every (flushed segment, index) pair gets a build task,
created on CreateIndex, on SaveFlushResult and by the loop if missing; indexnodes pull tasks
with ``AcquireIndexTask`` (leased to the node until its session goes) and report them; a
failed build is retried ``MAX_BUILD_ATTEMPTS`` times before the index reports Failed.
"""
from __future__ import annotations

import json

from common.errors import (
    CollectionNotFound,
    FieldNotFound,
    IndexDuplicate,
    IndexNotFound,
    IndexNotSupported,
    ParameterInvalid,
)
from common.index.params import validate_index_params
from common.schema_proto import schema_from_proto
from common.session import list_sessions
from common.storage.layout import index_file_prefix
from coordinators.datacoord.state import DataCoordState
from proto.internal import datacoord_pb2, meta_pb2
from proto.milvus import common_pb2

IndexState = common_pb2.IndexState
MAX_BUILD_ATTEMPTS = 3


class IndexMixin(DataCoordState):
    """DataCoord's index methods (see the module docstring)."""

    def _reclaim_index_leases(self) -> None:
        with self._lock:
            busy = [t for t in self._tasks.values() if t.state == IndexState.InProgress]
        if not busy:
            return
        live = {s.server_id for s in list_sessions(self._kv, "indexnode")}
        with self._lock:
            back = []
            for task in busy:
                current = self._tasks.get(task.build_id)
                if current is None or current.state != IndexState.InProgress:
                    continue
                if self._leases.get(task.build_id, 0) not in live:
                    current.state = IndexState.Unissued
                    self._leases.pop(task.build_id, None)
                    back.append(current)
            if back:
                self._catalog.save_tasks(back)

    # ------------------------------------------------------------------------ indexes
    def create_index(self, request: datacoord_pb2.CreateIndexRequest) -> None:
        """Validate and record an index; same definition again is a no-op. Raises
        FieldNotFound, IndexNotSupported (scalar field), ParameterInvalid (bad type, metric or
        parameter), IndexDuplicate."""
        self.require_ready()
        info, index = request.collection, request.index
        coll = self._ensure_collection(info.collection_id or index.collection_id, info)
        schema = schema_from_proto(coll.schema)
        field = schema.field(index.field_name) if index.field_name else next(
            (f for f in schema.fields if f.field_id == index.field_id), None)
        if field is None or field.is_dynamic:
            raise FieldNotFound(f"cannot create index on non-exist field: {index.field_name or index.field_id}")
        if not field.is_vector:
            raise IndexNotSupported(f"index on scalar field {field.name} is not supported yet: "
                                    "only vector fields can be indexed")
        try:
            params = json.loads(index.params_json) if index.params_json else {}
        except ValueError:
            raise ParameterInvalid(f"index params are not valid JSON: {index.params_json!r}") from None
        if not isinstance(params, dict):
            raise ParameterInvalid(f"index params must be a JSON object, got {index.params_json!r}")
        normalized = validate_index_params(index.index_type, index.metric_type, params, field.dtype, field.dim)
        build_params = {k: v for k, v in normalized.items() if k not in ("index_type", "metric_type")}
        candidate = meta_pb2.IndexInfo(
            collection_id=coll.collection_id, index_name=index.index_name or field.name, field_id=field.field_id,
            field_name=field.name, index_type=normalized["index_type"], metric_type=normalized["metric_type"],
            params_json=json.dumps(build_params, sort_keys=True), user_params=index.user_params,
        )
        if self._find_duplicate(candidate) is not None:
            return
        index_id = self._alloc_ids(1)
        candidate.create_ts = self._alloc_ts()
        candidate.index_id = index_id
        with self._lock:
            if coll.collection_id not in self._collections:
                raise CollectionNotFound(f"collection not found[collection={coll.collection_id}]")
            if self._find_duplicate(candidate) is not None:
                return
            self._catalog.save_index(candidate)
            self._indexes[index_id] = candidate
        self.log.info("collection %d: created index %s (%d) on %s: %s %s %s", coll.collection_id,
                      candidate.index_name, index_id, field.name, candidate.index_type, candidate.metric_type,
                      candidate.params_json)
        self._ensure_tasks(coll.collection_id)

    def _find_duplicate(self, candidate: meta_pb2.IndexInfo) -> meta_pb2.IndexInfo | None:
        with self._lock:
            for existing in self._collection_indexes(candidate.collection_id):
                same_field = existing.field_id == candidate.field_id
                if not same_field and existing.index_name != candidate.index_name:
                    continue
                same = (same_field and existing.index_name == candidate.index_name
                        and existing.index_type == candidate.index_type
                        and existing.metric_type == candidate.metric_type
                        and existing.params_json == candidate.params_json)
                if same:
                    return existing
                if same_field:
                    raise IndexDuplicate(
                        f"at most one distinct index is allowed per field: field {candidate.field_name} "
                        f"already has index {existing.index_name} ({existing.index_type}, {existing.metric_type}, "
                        f"{existing.params_json})")
                raise IndexDuplicate(
                    f"index name {candidate.index_name} is already used by field {existing.field_name}")
        return None

    def _select_indexes(self, collection_id: int, index_name: str, field_name: str) -> list[meta_pb2.IndexInfo]:
        indexes = self._collection_indexes(collection_id)
        if index_name:
            return [i for i in indexes if i.index_name == index_name]
        if field_name:
            return [i for i in indexes if i.field_name == field_name]
        return indexes

    def describe_index(self, request: datacoord_pb2.DescribeIndexRequest) -> datacoord_pb2.DescribeIndexResponse:
        self.require_ready()
        index_name, field_name = request.index_name, request.field_name
        coll = self._ensure_collection(request.collection_id)
        with self._lock:
            selected = self._select_indexes(coll.collection_id, index_name, field_name)
            if not selected:
                raise IndexNotFound(f"index not found[collection={coll.name}][indexName={index_name or field_name}]")
            segments = self._live_segments(coll.collection_id)
            total = sum(s.num_rows for s in segments)
            out = []
            for index in selected:
                indexed, failed, done = 0, "", 0
                for seg in segments:
                    build = self._task_of.get((seg.segment_id, index.index_id))
                    task = self._tasks.get(build) if build is not None else None
                    if task is None:
                        continue
                    if task.state == IndexState.Finished:
                        indexed += seg.num_rows
                        done += 1
                    elif task.state == IndexState.Failed and not failed:
                        failed = f"segment {seg.segment_id}: {task.fail_reason}"
                if failed:
                    state = IndexState.Failed
                elif done == len(segments):
                    state = IndexState.Finished
                else:
                    state = IndexState.InProgress
                out.append(datacoord_pb2.IndexProgress(index=index, state=state, indexed_rows=indexed,
                                                       total_rows=total, fail_reason=failed))
        return datacoord_pb2.DescribeIndexResponse(indexes=out)

    def drop_index(self, request: datacoord_pb2.DropIndexRequest) -> None:
        """Drop the index (and its builds and files); no error when there is none."""
        self.require_ready()
        collection_id = request.collection_id
        with self._lock:
            selected = self._select_indexes(collection_id, request.index_name, request.field_name)
            if not selected:
                return
            if len(selected) > 1:
                raise ParameterInvalid("there are multiple indexes, please specify the index_name")
            index = selected[0]
            tasks = [t for t in self._tasks.values() if t.index_id == index.index_id]
            self._catalog.delete_index(index, tasks)
            del self._indexes[index.index_id]
            for task in tasks:
                self._forget_task(task.build_id)
        for task in tasks:
            self._context.storage.remove_prefix(index_file_prefix(task.build_id))
        self.log.info("collection %d: dropped index %s (%d)", collection_id, index.index_name, index.index_id)

    def _ensure_tasks(self, collection_id: int) -> None:
        """Create the build task of every (flushed segment, index) pair that has none."""
        with self._lock:
            missing = [(seg, index) for index in self._collection_indexes(collection_id)
                       for seg in self._live_segments(collection_id)
                       if (seg.segment_id, index.index_id) not in self._task_of]
        if not missing:
            return
        begin = self._alloc_ids(len(missing))
        with self._lock:
            new = []
            for i, (seg, index) in enumerate(missing):
                key = (seg.segment_id, index.index_id)
                if key in self._task_of or seg.segment_id not in self._segments or index.index_id not in self._indexes:
                    continue
                new.append(meta_pb2.SegmentIndexInfo(
                    segment_id=seg.segment_id, index_id=index.index_id, build_id=begin + i,
                    state=IndexState.Unissued, num_rows=seg.num_rows, collection_id=collection_id))
            if new:
                self._catalog.save_tasks(new)
                for task in new:
                    self._tasks[task.build_id] = task
                    self._task_of[(task.segment_id, task.index_id)] = task.build_id

    def acquire_index_task(self, request: datacoord_pb2.AcquireIndexTaskRequest
                           ) -> datacoord_pb2.AcquireIndexTaskResponse:
        self.require_ready()
        with self._lock:
            for build_id in sorted(self._tasks):
                task = self._tasks[build_id]
                if task.state != IndexState.Unissued:
                    continue
                seg = self._segments.get(task.segment_id)
                index = self._indexes.get(task.index_id)
                coll = self._collections.get(task.collection_id)
                if seg is None or seg.state == meta_pb2.DROPPED or index is None or coll is None:
                    continue
                task.state = IndexState.InProgress
                self._catalog.save_tasks([task])
                self._leases[build_id] = request.node_id
                return datacoord_pb2.AcquireIndexTaskResponse(has_task=True, build_id=build_id, segment=seg,
                                                              index=index, collection=coll)
        return datacoord_pb2.AcquireIndexTaskResponse(has_task=False)

    def report_index_task(self, req: datacoord_pb2.ReportIndexTaskRequest) -> None:
        self.require_ready()
        stale = False
        with self._lock:
            task = self._tasks.get(req.build_id)
            if task is None:
                stale = True  # its index or collection was dropped meanwhile
            elif task.state == IndexState.Finished:
                pass  # a late duplicate
            elif req.state == IndexState.Finished:
                task.state, task.index_path, task.fail_reason = IndexState.Finished, req.index_path, ""
                self._catalog.save_tasks([task])
                self._leases.pop(req.build_id, None)
            elif req.state == IndexState.Failed:
                self._attempts[req.build_id] += 1
                final = self._attempts[req.build_id] >= MAX_BUILD_ATTEMPTS
                task.state = IndexState.Failed if final else IndexState.Unissued
                task.fail_reason = req.fail_reason
                self._catalog.save_tasks([task])
                self._leases.pop(req.build_id, None)
                self.log.warning("index build %d (segment %d) failed%s: %s", req.build_id, task.segment_id,
                                 "" if final else ", retrying", req.fail_reason)
            else:
                raise ParameterInvalid(f"an index task can be reported Finished or Failed, not {req.state}")
        if stale:
            self._context.storage.remove_prefix(index_file_prefix(req.build_id))
