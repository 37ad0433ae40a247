"""LoadBalance: move sealed segments of a loaded collection between querynodes (querycoord
does the move, see coordinators/querycoord/balance.py); answers once every move is done."""
from __future__ import annotations

from common.errors import ParameterInvalid, ServiceInternal
from common.status import success
from proto.internal import querycoord_pb2
from proto.milvus import common_pb2, milvus_pb2
from proxy.env import ProxyEnv

# How long LoadBalance waits for its moves (the moves go on after an answer that says so).
BALANCE_TIMEOUT_S = 120.0


class BalanceTasks:
    def __init__(self, env: ProxyEnv) -> None:
        self._env = env

    def load_balance(self, request: milvus_pb2.LoadBalanceRequest) -> common_pb2.Status:
        """Raises CollectionNotFound/NotLoaded, NodeNotFound, SegmentNotFound, ParameterInvalid
        (from querycoord), ServiceInternal when the moves did not finish in time."""
        if not request.collectionName:
            raise ParameterInvalid("LoadBalance needs the collection name")
        if request.src_nodeID <= 0:
            raise ParameterInvalid(f"invalid source node id {request.src_nodeID}")
        collection = self._env.cache.get(request.collectionName)
        querycoord = self._env.context.querycoord_with_timeout(BALANCE_TIMEOUT_S + 10)
        response = querycoord.load_balance(querycoord_pb2.LoadBalanceRequest(
            collection_id=collection.collection_id, source_node_id=request.src_nodeID,
            target_node_ids=request.dst_nodeIDs, segment_ids=request.sealed_segmentIDs,
            timeout_s=BALANCE_TIMEOUT_S))
        if not response.done:
            moving = sorted(m.segment_id for m in response.moves)
            raise ServiceInternal(f"moving segments {moving} did not finish within {BALANCE_TIMEOUT_S:.0f} s; "
                                  "the moves go on")
        return success()
