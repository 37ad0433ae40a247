"""RootCoord: the collection catalog (collections, partitions, aliases), timestamps and ids
(the ``RootCoord`` service of ``proto/internal/rootcoord.proto``)."""
from __future__ import annotations

from typing import Protocol

from common.interfaces.base import Role
from proto.internal import rootcoord_pb2
from proto.milvus import milvus_pb2


class RootCoord(Role, Protocol):
    """Contract: see ``common.interfaces.base`` (MilvusError only, NodeNotAvailable when
    unreachable, requests are not mutated)."""

    def create_collection(self, request: milvus_pb2.CreateCollectionRequest) -> None:
        """Create a collection with its ``_default`` partition; the same name with the identical
        schema succeeds again. Raises CollectionAlreadyExists, ParameterInvalid."""
        ...

    def drop_collection(self, request: milvus_pb2.DropCollectionRequest) -> None:
        """Remove a collection from the catalog. Raises CollectionNotFound, ParameterInvalid
        (an alias, or a collection that has aliases)."""
        ...

    def describe_collection(self, request: rootcoord_pb2.DescribeCollectionRequest
                            ) -> rootcoord_pb2.DescribeCollectionResponse:
        """The collection with ``collection_id`` (else ``collection_name``, or an alias).
        Raises CollectionNotFound."""
        ...

    def show_collections(self, request: rootcoord_pb2.ShowCollectionsRequest
                         ) -> rootcoord_pb2.ShowCollectionsResponse:
        """Every collection, oldest first."""
        ...

    def alloc_timestamp(self, request: rootcoord_pb2.AllocRequest) -> rootcoord_pb2.AllocTimestampResponse:
        """The first of ``count`` (at least 1) strictly increasing hybrid timestamps."""
        ...

    def alloc_id(self, request: rootcoord_pb2.AllocRequest) -> rootcoord_pb2.AllocIDResponse:
        """The first of ``count`` (at least 1) cluster-unique ids."""
        ...

    def has_collection(self, request: milvus_pb2.HasCollectionRequest) -> milvus_pb2.BoolResponse:
        """Whether the collection (or alias) exists; with ``time_stamp``, whether it existed then."""
        ...

    def create_partition(self, request: milvus_pb2.CreatePartitionRequest) -> rootcoord_pb2.PartitionResponse:
        """Add a partition; answers the updated collection and the partition. Raises
        CollectionNotFound, ParameterInvalid."""
        ...

    def drop_partition(self, request: milvus_pb2.DropPartitionRequest) -> rootcoord_pb2.PartitionResponse:
        """Remove a partition; answers the updated collection and what the partition was.
        Raises CollectionNotFound, PartitionNotFound, ParameterInvalid."""
        ...

    def create_alias(self, request: milvus_pb2.CreateAliasRequest) -> None:
        """Point a new alias at a collection."""
        ...

    def drop_alias(self, request: milvus_pb2.DropAliasRequest) -> None:
        """Remove an alias."""
        ...

    def alter_alias(self, request: milvus_pb2.AlterAliasRequest) -> None:
        """Point an existing alias at another collection."""
        ...

    def describe_alias(self, request: milvus_pb2.DescribeAliasRequest) -> milvus_pb2.DescribeAliasResponse:
        """The collection an alias points to."""
        ...

    def list_aliases(self, request: milvus_pb2.ListAliasesRequest) -> milvus_pb2.ListAliasesResponse:
        """The aliases of a collection ('' = of every collection)."""
        ...
