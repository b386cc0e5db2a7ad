"""Where a meter's timeslots overlap, which one holds each interval (`resolve`), and why.

Best-ranked first (`rank`: priority, mandatory, award, start, event id), each timeslot takes what
is still free of its window [plan_from, end); what a better one holds is lost to it.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any


def rank(alloc: Any) -> tuple[Any, ...]:
    """Sort key of the module docstring's order (smaller is better)."""
    ts = alloc.timeslot
    energy = math.inf if alloc.share_kw is None else alloc.share_kw
    return (ts.priority, ts.is_voluntary, -energy, ts.start_time, str(ts.event_id))


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


@lru_cache(maxsize=65536)  # the same boundaries come back on every re-plan of a meter
def iso(epoch: float) -> str:
    """An epoch second as Leap's UTC form (what segments hold)."""
    return datetime.fromtimestamp(round(epoch, 6), UTC).isoformat().replace("+00:00", "Z")


def _hm(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M")


def resolve(allocations: list[Any]) -> None:
    """Set segments / followed / overruled_by / reason on one meter's allocations (in memory).

    Best-ranked first, each timeslot takes what is still free of its window [plan_from, end);
    what an earlier (better) one holds is lost to that one.
    """
    partitions: dict[bool, list[Any]] = defaultdict(list)
    for alloc in allocations:
        ts = alloc.timeslot
        if ts.cancelled:
            alloc.followed, alloc.overruled_by, alloc.reason = False, None, "cancelled"
            alloc.segments = []
        elif _epoch(ts.end_time) <= _epoch(ts.plan_from):
            alloc.followed, alloc.overruled_by = False, None
            alloc.reason, alloc.segments = "ended before it reached us: not planned", []
        else:
            partitions[ts.integration_test].append(alloc)
    for group in partitions.values():
        starts: list[float] = []  # taken pieces, disjoint, sorted by start
        pieces: list[tuple[float, float, Any]] = []
        for alloc in sorted(group, key=rank):
            ts = alloc.timeslot
            lo, hi = _epoch(ts.plan_from), _epoch(ts.end_time)
            free, lost = [], []
            cur = lo
            i = max(0, bisect.bisect_right(starts, lo) - 1)
            while i < len(pieces) and pieces[i][0] < hi:
                s0, e0, owner = pieces[i]
                if e0 > lo:
                    if s0 > cur:
                        free.append((cur, s0))
                    lost.append((max(s0, lo), min(e0, hi), owner))
                    cur = max(cur, e0)
                i += 1
            if cur < hi:
                free.append((cur, hi))
            for s0, e0 in free:
                at = bisect.bisect_left(starts, s0)
                starts.insert(at, s0)
                pieces.insert(at, (s0, e0, alloc))
            alloc.segments = [[iso(a), iso(b)] for a, b in free]
            alloc.followed = bool(free)
            if not lost:
                alloc.overruled_by, alloc.reason = None, ""
                continue
            winner = lost[0][2]
            alloc.overruled_by = winner.timeslot
            why = _why(winner.timeslot, ts, winner, alloc)
            if not free:
                alloc.reason = why[:200]
            else:
                hours = sum(e - s for s, e, _ in lost) / 3600
                first = f"{_hm(lost[0][0])}–{_hm(lost[0][1])} UTC"
                more = f" and {len(lost) - 1} more" if len(lost) > 1 else ""
                alloc.reason = f"loses {hours:g} h ({first}{more}): {why}"[:200]


def _why(win: Any, lose: Any, wa: Any, la: Any) -> str:
    """Which rule decided the conflict, in words."""
    if win.priority != lose.priority:
        return f"overlaps priority {win.priority} event (this one is priority {lose.priority})"
    if win.is_voluntary != lose.is_voluntary:
        return "overlaps a mandatory event of the same priority"
    if wa.share_kw != la.share_kw:
        return "overlaps an event of the same priority with more energy"
    if win.start_time != lose.start_time:
        return "overlaps an earlier event of the same priority and energy"
    return "overlaps an identical-rank event (event id decides)"
