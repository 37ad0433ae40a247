"""The part of rootcoord's catalog that other roles may rely on: being told that it changed.

Contract of ``watch_catalog(kv, callback) -> cancel``:

- ``callback()`` is called after every change rootcoord makes to its catalog of collections
  (create, drop, alter, partitions, aliases): at least once per change (a change touching
  two collections, such as AlterAlias, may call it twice), from the KV's watch thread, in the
  order the changes were stored. Changes stored before the call are not
  reported.
- It says nothing about what changed: a watcher drops what it cached and asks rootcoord again
  through its RPCs (DescribeCollection, ...). The callback must be quick and must not raise.
- ``cancel()`` stops the watch; it is idempotent.

How rootcoord stores its catalog (``catalog.py``) is private to rootcoord and may change;
this function is the only way other roles observe it.
"""
from __future__ import annotations

from collections.abc import Callable

from common.kv.base import MetaKV
from coordinators.rootcoord.catalog import COLLECTION_PREFIX


def watch_catalog(kv: MetaKV, callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback()`` after every change of rootcoord's catalog (see the module doc);
    returns the function that cancels the watch."""
    return kv.watch_prefix(COLLECTION_PREFIX, lambda _event: callback())
