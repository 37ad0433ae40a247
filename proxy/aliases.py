"""Proxy tasks for aliases: create, drop, alter, describe and list. Rootcoord owns the rules
(Milvus naming rules, alias/collection name clashes, no alias of an alias); the proxy drops
the cache entries an alias change makes stale, so the next request resolves the alias anew."""
from __future__ import annotations

from common.status import success
from proto.milvus import common_pb2, milvus_pb2
from proxy.env import ProxyEnv


class AliasTasks:
    def __init__(self, env: ProxyEnv) -> None:
        self._env = env

    def create_alias(self, request: milvus_pb2.CreateAliasRequest) -> common_pb2.Status:
        self._change("CreateAlias", request, request.alias, request.collection_name)
        return success()

    def drop_alias(self, request: milvus_pb2.DropAliasRequest) -> common_pb2.Status:
        self._change("DropAlias", request, request.alias)
        return success()

    def alter_alias(self, request: milvus_pb2.AlterAliasRequest) -> common_pb2.Status:
        self._change("AlterAlias", request, request.alias, request.collection_name)
        return success()

    def describe_alias(self, request: milvus_pb2.DescribeAliasRequest) -> milvus_pb2.DescribeAliasResponse:
        return self._env.coord("rootcoord").call("DescribeAlias", request)

    def list_aliases(self, request: milvus_pb2.ListAliasesRequest) -> milvus_pb2.ListAliasesResponse:
        return self._env.coord("rootcoord").call("ListAliases", request)

    def _change(self, method: str, request, alias: str, collection_name: str = "") -> None:  # type: ignore[no-untyped-def]
        self._env.coord("rootcoord").call(method, request)
        self._env.cache.invalidate_alias(alias)
        if collection_name:
            self._env.cache.invalidate(collection_name)
