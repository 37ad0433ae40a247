"""IndexNode: health only; an indexnode pulls its build tasks from datacoord (the ``IndexNode``
service of ``proto/internal/indexnode.proto``)."""
from __future__ import annotations

from typing import Protocol

from common.interfaces.base import Role


class IndexNode(Role, Protocol):
    """Contract: see ``common.interfaces.base``."""
