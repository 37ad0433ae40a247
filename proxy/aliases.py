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
        self._env.context.rootcoord.create_alias(request)
        self._forget(request.alias, request.collection_name)
        return success()

    def drop_alias(self, request: milvus_pb2.DropAliasRequest) -> common_pb2.Status:
        self._env.context.rootcoord.drop_alias(request)
        self._forget(request.alias)
        return success()

    def alter_alias(self, request: milvus_pb2.AlterAliasRequest) -> common_pb2.Status:
        self._env.context.rootcoord.alter_alias(request)
        self._forget(request.alias, request.collection_name)
        return success()

    def describe_alias(self, request: milvus_pb2.DescribeAliasRequest) -> milvus_pb2.DescribeAliasResponse:
        return self._env.context.rootcoord.describe_alias(request)

    def list_aliases(self, request: milvus_pb2.ListAliasesRequest) -> milvus_pb2.ListAliasesResponse:
        return self._env.context.rootcoord.list_aliases(request)

    def _forget(self, alias: str, collection_name: str = "") -> None:
        """Drop the cache entries a change of ``alias`` made stale."""
        self._env.cache.invalidate_alias(alias)
        if collection_name:
            self._env.cache.invalidate(collection_name)
