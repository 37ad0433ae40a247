"""Which datanode consumes each channel: a pure function of the current owners and the live
datanodes."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence


def assign_channels(owners: Mapping[str, int], live: Sequence[int], turn: int) -> tuple[dict[str, int], int]:
    """New owners for the channels whose datanode (``owners``: channel → node, 0 for none) is
    not ``live``, in channel name order: each goes to a live node owning the fewest channels,
    taking turns among equals (``turn`` counts the choices made so far). Returns the moves
    (channel → node) and the next turn. No moves when no node is live."""
    if not live:
        return {}, turn
    load = Counter(node for node in owners.values() if node in live)
    moves = {}
    for name in sorted(owners):
        if owners[name] in live:
            continue
        least = min(load[n] for n in live)
        candidates = [n for n in live if load[n] == least]
        node = candidates[turn % len(candidates)]
        turn += 1
        load[node] += 1
        moves[name] = node
    return moves, turn
