"""DataNode: health only; a datanode pulls its work from datacoord (the ``DataNode`` service
of ``proto/internal/datanode.proto``)."""
from __future__ import annotations

from typing import Protocol

from common.interfaces.base import Role


class DataNode(Role, Protocol):
    """Contract: see ``common.interfaces.base``."""
