"""The typed interfaces of the roles: one ``typing.Protocol`` per role, implemented by the
role's core (in-process calls) and by its client (gRPC), so a caller holds a ``DataCoord`` and
does not care which. ``base`` states the contract every one shares."""
from common.interfaces.base import Role
from common.interfaces.datacoord import DataCoord
from common.interfaces.datanode import DataNode
from common.interfaces.indexnode import IndexNode
from common.interfaces.log import Log
from common.interfaces.querycoord import QueryCoord
from common.interfaces.querynode import QueryNode
from common.interfaces.rootcoord import RootCoord

__all__ = ["DataCoord", "DataNode", "IndexNode", "Log", "QueryCoord", "QueryNode", "Role", "RootCoord"]
