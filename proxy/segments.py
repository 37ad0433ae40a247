"""Proxy tasks for segments: GetPersistentSegmentInfo (datacoord's flushed segments),
GetQuerySegmentInfo (the sealed segments querynodes hold) and compaction: ManualCompaction,
GetCompactionState and GetCompactionStateWithPlans.

Segments reported are Flushed (persistent) or Sealed (loaded), of level L1, as Milvus reports
segments flushed from growing ones and mix-compaction results. A compaction purges deleted
rows and merges small segments (see ``coordinators/datacoord/compaction.py``); clustering
compaction (``majorCompaction``) needs a clustering key, which collections here never have.
An L0 compaction request runs the same merge: deletes are channel-wide L0 logs here, and the
merge is what applies them to the segments.
"""
from __future__ import annotations

from common.errors import ParameterInvalid
from common.status import success
from proto.internal import datacoord_pb2, rootcoord_pb2
from proto.milvus import common_pb2, milvus_pb2
from proxy.env import ProxyEnv

CompactionTask = datacoord_pb2.CompactionTask
RUNNING = (datacoord_pb2.COMPACTION_EXECUTING, datacoord_pb2.COMPACTION_INDEXING)


class SegmentTasks:
    def __init__(self, env: ProxyEnv) -> None:
        self._env = env

    # -- segment information ---------------------------------------------------------------
    def get_persistent_segment_info(self, request: milvus_pb2.GetPersistentSegmentInfoRequest
                                    ) -> milvus_pb2.GetPersistentSegmentInfoResponse:
        """The collection's flushed segments (compacted-away ones excluded)."""
        collection = self._env.cache.get(request.collectionName)
        segments = self._env.context.datacoord.get_segment_info(
            datacoord_pb2.CollectionRequest(collection_id=collection.collection_id)).segments
        out = milvus_pb2.GetPersistentSegmentInfoResponse(status=success())
        for seg in segments:
            out.infos.add(segmentID=seg.segment_id, collectionID=seg.collection_id, partitionID=seg.partition_id,
                          num_rows=seg.num_rows, state=common_pb2.SegmentState.Flushed,
                          level=common_pb2.SegmentLevel.L1)
        return out

    def get_query_segment_info(self, request: milvus_pb2.GetQuerySegmentInfoRequest
                               ) -> milvus_pb2.GetQuerySegmentInfoResponse:
        """The sealed segments of a loaded collection held by querynodes, with their memory
        size, index and nodes. Raises CollectionNotFound, CollectionNotLoaded (101)."""
        collection = self._env.cache.get(request.collectionName)
        held = self._env.context.querycoord.get_segment_info(
            datacoord_pb2.CollectionRequest(collection_id=collection.collection_id)).segments
        out = milvus_pb2.GetQuerySegmentInfoResponse(status=success())
        by_id: dict[int, milvus_pb2.QuerySegmentInfo] = {}
        for seg in held:  # one entry per (segment, node), sorted by segment id
            info = by_id.get(seg.segment_id)
            if info is None:
                info = by_id[seg.segment_id] = out.infos.add(
                    segmentID=seg.segment_id, collectionID=seg.collection_id, partitionID=seg.partition_id,
                    mem_size=seg.mem_size, num_rows=seg.num_rows, index_name=seg.index_name, indexID=seg.index_id,
                    nodeID=seg.node_id, state=common_pb2.SegmentState.Sealed, level=common_pb2.SegmentLevel.L1)
            info.nodeIds.append(seg.node_id)
        return out

    # -- compaction --------------------------------------------------------------------------
    def manual_compaction(self, request: milvus_pb2.ManualCompactionRequest) -> milvus_pb2.ManualCompactionResponse:
        """Plan a compaction of the collection (named, or by ``collectionID``); compactionID
        -1 and no plans when there is nothing to compact, as in Milvus."""
        if request.collection_name:
            info = self._env.cache.get(request.collection_name).info
        elif request.collectionID:
            info = self._env.context.rootcoord.describe_collection(rootcoord_pb2.DescribeCollectionRequest(
                collection_id=request.collectionID)).collection
        else:
            raise ParameterInvalid("ManualCompaction needs collection_name or collectionID")
        if request.majorCompaction:
            raise ParameterInvalid(f"clustering compaction (majorCompaction) needs a clustering key field; "
                                   f"collection {info.name} has none")
        if request.target_size < 0:
            raise ParameterInvalid(f"target_size must be positive, got {request.target_size}")
        result = self._env.context.datacoord.manual_compaction(datacoord_pb2.ManualCompactionRequest(
            collection=info, partition_id=request.partition_id, channel=request.channel,
            segment_ids=request.segment_ids, target_size_mb=request.target_size))
        return milvus_pb2.ManualCompactionResponse(status=success(), compactionID=result.compaction_id,
                                                   compactionPlanCount=result.plan_count)

    def get_compaction_state(self, request: milvus_pb2.GetCompactionStateRequest
                             ) -> milvus_pb2.GetCompactionStateResponse:
        tasks = self._tasks(request.compactionID)
        return milvus_pb2.GetCompactionStateResponse(
            status=success(), state=_state(tasks), executingPlanNo=sum(t.state in RUNNING for t in tasks),
            completedPlanNo=sum(t.state == datacoord_pb2.COMPACTION_COMPLETED for t in tasks),
            failedPlanNo=sum(t.state == datacoord_pb2.COMPACTION_FAILED for t in tasks))

    def get_compaction_state_with_plans(self, request: milvus_pb2.GetCompactionPlansRequest
                                        ) -> milvus_pb2.GetCompactionPlansResponse:
        tasks = self._tasks(request.compactionID)
        out = milvus_pb2.GetCompactionPlansResponse(status=success(), state=_state(tasks))
        for task in tasks:
            out.mergeInfos.add(sources=task.sources, target=task.target_id)
        return out

    def _tasks(self, compaction_id: int) -> list[CompactionTask]:
        return list(self._env.context.datacoord.get_compaction_state(
            datacoord_pb2.CompactionStateRequest(compaction_id=compaction_id)).tasks)


def _state(tasks: list[CompactionTask]) -> common_pb2.CompactionState:
    """Executing while a plan runs (or its target is being indexed), else Completed (also for
    an unknown compaction id, as in Milvus)."""
    if any(t.state in RUNNING for t in tasks):
        return common_pb2.CompactionState.Executing
    return common_pb2.CompactionState.Completed
