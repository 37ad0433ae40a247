"""Proxy tasks that read: search and query. Each request is checked here, once: params,
vectors, expression and output fields become a checked plan (``querynode_pb2.SearchPlan``, the
compiled filter in ``ReadScope.filter``) that the leader of every shard runs as given; their
answers are reduced here."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from common.compute.distance import metric_is_ascending
from common.errors import (ChannelNotFound, CollectionNotLoaded, MilvusError, NodeNotAvailable, ParameterInvalid,
                           ServiceUnavailable)
from common.expr import compile_expr, encode_plan
from common.interfaces import QueryNode
from common.index.params import default_metric, validate_search_params
from common.schema import FieldSchema
from common.schema_proto import wire_data_type
from common.status import success
from common.template_values import template_values_from_proto
from common.types import ConsistencyLevel, DataType
from dataplane.columns import empty_column
from dataplane.fielddata import field_data_from_column
from dataplane.ids import ids_column_of
from dataplane.reduce import merge_query_results, merge_search_results
from proto.internal import querycoord_pb2, querynode_pb2
from proto.milvus import common_pb2, milvus_pb2
from proxy.env import ProxyEnv
from proxy.meta_cache import CachedCollection
from proxy.params import (COUNT_STAR, OutputFields, SearchParams, parse_query_params, parse_search_params,
                          resolve_output_fields)

_PLACEHOLDER_TYPES = {DataType.FLOAT_VECTOR: common_pb2.PlaceholderType.Value("FloatVector"),
                      DataType.BINARY_VECTOR: common_pb2.PlaceholderType.Value("BinaryVector")}
MAX_NQ = 16384
# Distinct search request shapes whose checked parameters are kept (all dropped when full).
MAX_SEARCH_PLANS = 256
# Compiled filters kept (see ``ReadTasks._filter``; all dropped when full) and the longest
# expression text kept.
MAX_CACHED_FILTERS = 256
MAX_CACHED_FILTER_CHARS = 64 * 1024
# guarantee_timestamp values with a meaning of their own (pymilvus: 1 Eventually, 2 Bounded).
EVENTUALLY_TS = 2
# How long a read waits for a shard leader to become serviceable (e.g. after a restart).
SHARD_WAIT_S = 30.0
_Read = TypeVar("_Read", querynode_pb2.ShardSearchRequest, querynode_pb2.ShardQueryRequest)


@dataclass(frozen=True)
class _SearchPlan:
    """A search request's parameters, resolved and checked against a collection and its index:
    everything of the querynodes' ``SearchPlan`` but the query vectors."""
    collection: CachedCollection
    index: Any  # meta_pb2.IndexInfo or None
    params: SearchParams
    field: FieldSchema
    metric: str
    k: int  # topk + offset: what the shards are asked for
    index_type: str  # what ``index_params`` were checked for
    index_params: querynode_pb2.IndexSearchParams
    output: OutputFields


class ReadTasks:
    def __init__(self, env: ProxyEnv) -> None:
        self._env = env
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="proxy-fanout")
        self._plans: dict[tuple, _SearchPlan] = {}
        self._filters: dict[tuple[int, str], tuple[CachedCollection, str]] = {}

    # -- search ------------------------------------------------------------------------------
    def search(self, request: milvus_pb2.SearchRequest) -> milvus_pb2.SearchResults:
        collection = self._env.cache.get(request.collection_name)
        schema = collection.schema
        if request.WhichOneof("search_input") != "placeholder_group":
            raise ParameterInvalid("search by primary keys is not supported yet: send query vectors")
        plan = self._search_plan(collection, request)
        params, field, output, k = plan.params, plan.field, plan.output, plan.k
        vectors, nq = _query_vectors(request.placeholder_group, field.dtype, field.dim, field.name)
        scope = self._scope(collection, request.dsl, request.expr_template_values, request.partition_names,
                            output.fetch, request)
        shard_request = querynode_pb2.ShardSearchRequest(scope=scope, plan=querynode_pb2.SearchPlan(
            anns_field=field.name, metric_type=plan.metric, index_type=plan.index_type, params=plan.index_params,
            nq=nq, topk=k, vectors=vectors))
        answers = self._fan_out(collection, _search, shard_request)
        results = merge_search_results([a.results for a in answers], nq, k, metric_is_ascending(plan.metric),
                                       offset=params.offset)
        if params.round_decimal >= 0:
            rounded = np.round(np.asarray(results.scores, dtype=np.float64), params.round_decimal)
            del results.scores[:]
            results.scores.extend(rounded.tolist())
        results.num_queries = nq
        results.top_k = params.topk
        del results.output_fields[:]
        results.output_fields.extend(output.names)
        results.primary_field_name = schema.primary_field.name
        return milvus_pb2.SearchResults(status=success(), results=results, collection_name=collection.info.name,
                                        session_ts=scope.read_ts)

    def _search_plan(self, collection: CachedCollection, request: milvus_pb2.SearchRequest) -> _SearchPlan:
        """What the request's search params and output fields resolve to for ``collection``:
        checked once per distinct request shape and then reused while the collection's metadata
        and the field's index stay the same objects in the proxy's caches. Raises
        ParameterInvalid / FieldNotFound for bad params (nothing is cached then)."""
        key = (id(collection), tuple((kv.key, kv.value) for kv in request.search_params), tuple(request.output_fields))
        plan = self._plans.get(key)
        if plan is not None and plan.collection is collection and \
                self._env.indexes.get(collection.collection_id, plan.field.name) is plan.index:
            return plan
        schema = collection.schema
        params = parse_search_params(request.search_params, schema, self._env.config.get("proxy", "max_topk"))
        field = schema.field(params.anns_field)
        assert field is not None
        index = self._env.indexes.get(collection.collection_id, field.name)
        index_type = index.index_type if index is not None else "FLAT"
        metric = params.metric_type or (index.metric_type if index is not None else "") or default_metric(field.dtype)
        if index is not None and metric != index.metric_type:
            raise ParameterInvalid(
                f"metric type not match: invalid parameter[expected={index.metric_type}][actual={metric}]"
            )
        k = params.topk + params.offset
        index_params = querynode_pb2.IndexSearchParams(**validate_search_params(index_type, params.params, k))
        output = resolve_output_fields(request.output_fields, schema, include_pk=False)
        plan = _SearchPlan(collection, index, params, field, metric, k, index_type, index_params, output)
        if len(self._plans) >= MAX_SEARCH_PLANS:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    # -- query -------------------------------------------------------------------------------
    def query(self, request: milvus_pb2.QueryRequest) -> milvus_pb2.QueryResults:
        collection = self._env.cache.get(request.collection_name)
        schema = collection.schema
        params = parse_query_params(request.query_params, self._env.config.get("proxy", "max_topk"))
        requested = [name.strip() for name in request.output_fields if name.strip()]
        count_only = any(name.lower() == COUNT_STAR for name in requested)
        if count_only and len(requested) > 1:
            raise ParameterInvalid("count(*) cannot be combined with other output fields")
        if not request.expr.strip() and params.limit < 0 and not count_only:
            raise ParameterInvalid("empty expression should be used with limit")
        output = resolve_output_fields([] if count_only else requested, schema, include_pk=True)
        scope = self._scope(collection, request.expr, request.expr_template_values, request.partition_names,
                            [] if count_only else output.fetch, request)
        limit = params.limit + params.offset if params.limit > 0 else -1
        shard_request = querynode_pb2.ShardQueryRequest(scope=scope, limit=limit, count_only=count_only)
        answers = self._fan_out(collection, _query, shard_request)
        response = milvus_pb2.QueryResults(status=success(), collection_name=collection.info.name,
                                           primary_field_name=schema.primary_field.name, session_ts=scope.read_ts)
        if count_only:
            total = sum(a.count for a in answers)
            count = response.fields_data.add(type=wire_data_type(DataType.INT64), field_name=COUNT_STAR)
            count.scalars.long_data.data.append(total)
            response.output_fields.append(COUNT_STAR)
            return response
        merged = merge_query_results([a.fields_data for a in answers], schema.primary_field.name,
                                     params.limit, offset=params.offset)
        if merged:
            response.fields_data.extend(merged)
        else:  # pymilvus needs one FieldData per output field, data set even when empty
            response.fields_data.extend(field_data_from_column(f, empty_column(f)) for f in output.fetch)
        names = list(output.names)
        if schema.primary_field.name not in names:
            names.insert(0, schema.primary_field.name)
        response.output_fields.extend(names)
        return response

    def matching_pks(self, collection: CachedCollection, expr: str, templates_pb: Any,
                     partition_names: Sequence[str]) -> np.ndarray:
        """Primary keys of the rows matching ``expr`` now (a Strong read), for delete by expression."""
        pk = collection.schema.primary_field
        request = milvus_pb2.QueryRequest(collection_name=collection.info.name, expr=expr,
                                          output_fields=[pk.name], partition_names=partition_names,
                                          consistency_level=common_pb2.ConsistencyLevel.Strong)
        for key, value in templates_pb.items():
            request.expr_template_values[key].CopyFrom(value)
        return ids_column_of(self.query(request).fields_data[0], pk.dtype)

    # -- helpers -----------------------------------------------------------------------------
    def _scope(self, collection: CachedCollection, expr: str, templates_pb: Any, partition_names: Sequence[str],
               fetch: Sequence[FieldSchema],
               request: milvus_pb2.SearchRequest | milvus_pb2.QueryRequest) -> querynode_pb2.ReadScope:
        compiled = self._filter(collection, expr, templates_pb)
        partition_ids = [collection.partition_id(name) for name in partition_names]
        level = collection.info.consistency_level if request.use_default_consistency else request.consistency_level
        scope = querynode_pb2.ReadScope(collection_id=collection.collection_id, partition_ids=partition_ids,
                                        filter=compiled, output_fields=[f.name for f in fetch])
        scope.read_ts, scope.wait_for_latest = self._read_timestamp(
            level, request.travel_timestamp, request.guarantee_timestamp, request.use_default_consistency)
        return scope

    def _filter(self, collection: CachedCollection, expr: str, templates_pb: Any) -> str:
        """``expr`` compiled for ``collection`` (ExpressionError for bad input) in the wire form
        of ``ReadScope.filter``. Without template values, kept per collection and text (while
        the proxy's metadata of the collection stays the same object) and reused."""
        if not expr:
            return ""
        if len(templates_pb):
            return encode_plan(compile_expr(expr, collection.schema, template_values_from_proto(templates_pb)))
        key = (id(collection), expr)
        hit = self._filters.get(key)
        if hit is not None and hit[0] is collection:
            return hit[1]
        text = encode_plan(compile_expr(expr, collection.schema))
        if len(expr) <= MAX_CACHED_FILTER_CHARS:
            if len(self._filters) >= MAX_CACHED_FILTERS:
                self._filters.clear()
            self._filters[key] = (collection, text)
        return text

    def _read_timestamp(self, level: int, travel_ts: int, guarantee_ts: int,
                        use_default: bool = False) -> tuple[int, bool]:
        """(MVCC timestamp of the read, whether the shards must first consume up to the channel
        end). ``travel_ts`` reads the collection as it was then (it must not be in the future);
        Strong and Session read at a fresh TSO timestamp after everything written so far;
        Customized waits for writes up to ``guarantee_ts``, and so does a read at the
        collection's default level when the client sends the timestamp of its last write
        (pymilvus does: the client then reads its own writes); otherwise Bounded and Eventually
        read what the shards hold now, at this proxy's clock (no round trip)."""
        if travel_ts:
            now = self._env.alloc_timestamp()
            if travel_ts > now:
                raise ParameterInvalid(f"travel_timestamp {travel_ts} is in the future (now {now})")
            return travel_ts, True
        if level in (ConsistencyLevel.STRONG, ConsistencyLevel.SESSION):
            return self._env.alloc_timestamp(), True
        if (level == ConsistencyLevel.CUSTOMIZED or use_default) and guarantee_ts > EVENTUALLY_TS:
            return max(guarantee_ts, self._env.local_timestamp()), True
        return self._env.local_timestamp(), False

    def _fan_out(self, collection: CachedCollection, read: Callable[[QueryNode, _Read], Any],
                 request: _Read) -> list[Any]:
        """The answers to ``read`` of ``request`` (its ``scope.channel`` set per shard) from
        one leader of every shard, in parallel (``_read_shard``: another replica's leader at
        once when one cannot be reached). While a shard has no serviceable leader (a node
        recovering after a restart) or none of its leaders can be reached, it retries with
        fresh leaders for up to ``SHARD_WAIT_S`` before giving up."""
        deadline = time.monotonic() + SHARD_WAIT_S
        delay = 0.05
        router = self._env.router
        while True:
            try:
                shards = router.shards(collection)
                if not shards:
                    raise CollectionNotLoaded(f"collection not loaded[collection={collection.info.name}]")
                if len(shards) == 1:  # the common case: no copy, no thread hop
                    request.scope.channel = shards[0][0].channel
                    return [self._read_shard(read, request, shards[0])]
                futures = [self._pool.submit(self._read_shard, read, _for_channel(request, leaders[0].channel), leaders)
                           for leaders in shards]
                return [f.result() for f in futures]
            except (NodeNotAvailable, ServiceUnavailable, ChannelNotFound):  # leaders moved or recovering
                router.forget(collection.collection_id)
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _read_shard(self, read: Callable[[QueryNode, _Read], Any], request: _Read,
                    leaders: list[querycoord_pb2.ShardLeader]) -> Any:
        """``read`` of one shard from its first leader (replica) in the router's order that
        answers: one that cannot be reached is marked so (later reads try it last) and the next
        is tried at once; one that failed otherwise with a retriable error, or no longer serves
        the channel, makes the router ask querycoord again on the next read, and the next is
        tried. Any other error (the request's own fault) is raised at once; the last failure
        when none answered."""
        router = self._env.router
        failure: MilvusError | None = None
        for leader in router.order(leaders):
            try:
                with router.reading(leader.address):
                    return read(self._env.context.querynode(leader.address), request)
            except NodeNotAvailable as exc:
                router.mark_unreachable(leader.address)
                failure = exc
            except MilvusError as exc:
                if not (exc.retriable or isinstance(exc, ChannelNotFound)):
                    raise
                router.forget(request.scope.collection_id)
                failure = exc
        assert failure is not None
        raise failure


def _search(node: QueryNode, request: querynode_pb2.ShardSearchRequest) -> querynode_pb2.ShardSearchResult:
    return node.search(request)


def _query(node: QueryNode, request: querynode_pb2.ShardQueryRequest) -> querynode_pb2.ShardQueryResult:
    return node.query(request)


def _for_channel(request: _Read, channel: str) -> _Read:
    copy = type(request)()
    copy.CopyFrom(request)
    copy.scope.channel = channel
    return copy


def _query_vectors(raw: bytes, dtype: DataType, dim: int, field_name: str) -> tuple[bytes, int]:
    """(the query vectors of a PlaceholderGroup as raw bytes, one after the other; their number
    nq); raises ParameterInvalid on a wrong vector type or dimension."""
    try:
        group = common_pb2.PlaceholderGroup.FromString(raw)
    except Exception:  # noqa: BLE001 - undecodable input
        raise ParameterInvalid("the search vectors (placeholder group) cannot be decoded") from None
    if len(group.placeholders) != 1:
        raise ParameterInvalid("exactly one group of search vectors is expected")
    placeholder = group.placeholders[0]
    if placeholder.type != _PLACEHOLDER_TYPES.get(dtype):
        raise ParameterInvalid(
            f"vector type must be the same: field {field_name} is {dtype.name}, "
            f"the search vectors are {common_pb2.PlaceholderType.Name(placeholder.type)}"
        )
    width = dim * 4 if dtype == DataType.FLOAT_VECTOR else dim // 8
    values = placeholder.values
    nq = len(values)
    if not 1 <= nq <= MAX_NQ:
        raise ParameterInvalid(f"nq (number of search vectors) {nq} is out of range [1, {MAX_NQ}]")
    for value in values:
        if len(value) != width:
            got = len(value) // 4 if dtype == DataType.FLOAT_VECTOR else len(value) * 8
            raise ParameterInvalid(f"the dimension of the search vectors ({got}) does not match field "
                                   f"{field_name} (dim {dim})")
    return values[0] if nq == 1 else b"".join(values), nq
