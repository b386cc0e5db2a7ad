"""Work that must come first, and the long work that gives way to it.

A dispatch must be visible within seconds of Leap's notification; a full sync of 100,000 meters
may take minutes more without anyone noticing. Separate queues and workers (leapportal/queues.py)
keep a sync from *blocking* a dispatch, but not from *slowing* it: both use the same database
server, and on a small machine the same cores, and a sync that writes as fast as it can takes
them. An OS priority (nice) reaches neither the database server's processes nor another machine.

So the long work yields on purpose. An app whose work comes first registers a probe here (in its
AppConfig.ready): a function answering "when did the oldest of my waiting work arrive" (None when
nothing waits), read from the database, so that it holds across machines. The long work calls
`give_way()` between its steps (the meter sync: before each page it writes): while some probe's
oldest work has waited more than settings.GIVE_WAY_AFTER_SECONDS, it waits in short steps, then
goes on. It never waits for ever:
- after settings.GIVE_WAY_MAX_SECONDS in one call it goes on, and waits again at its next step;
- work that does not move (the same oldest item for settings.GIVE_WAY_STUCK_SECONDS: its worker
  is down) is not waited for again until it moves: a stopped dispatch worker must not stop the
  sync as well (sync health shows the waiting deliveries and the workers).

The shared layer holds only this registry, so the sync (meters) imports nothing of dispatch,
which stands above it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.utils import timezone

log = logging.getLogger(__name__)

# When the oldest waiting item of some first-come work arrived; None when none waits.
Probe = Callable[[], datetime | None]

STEP_SECONDS = 0.2  # how often a waiting caller looks again

_probes: dict[str, Probe] = {}
# Per probe: the oldest item it last answered, and since when (monotonic) it has answered it.
_seen: dict[str, tuple[datetime, float]] = {}
# Per probe: an oldest item found not to move; not waited for until the answer changes.
_stuck: dict[str, datetime] = {}


def register(name: str, probe: Probe) -> None:
    """Make long work yield to the work `probe` watches."""
    _probes[name] = probe


def unregister(name: str) -> None:
    """Forget a probe (tests)."""
    _probes.pop(name, None)
    _seen.pop(name, None)
    _stuck.pop(name, None)


def behind(now: float) -> tuple[str, float]:
    """The waited-for work that has waited longest and for how long (s); ("", 0) when none.

    `now` is time.monotonic(), for telling stuck work. A probe that fails (the database
    restarting, say) counts as nothing waiting: giving way must never make the long work fail.
    """
    worst = ("", 0.0)
    for name, probe in _probes.items():
        try:
            oldest = probe()
        except Exception:
            log.warning("priority probe %s failed; not giving way to it", name, exc_info=True)
            continue
        if oldest is None or _stuck.get(name) == oldest:
            continue
        _stuck.pop(name, None)
        if _seen.get(name, (None, 0.0))[0] != oldest:
            _seen[name] = (oldest, now)
        elif now - _seen[name][1] >= settings.GIVE_WAY_STUCK_SECONDS:
            log.warning(
                "%s has not moved for %.0f s (its worker may be down): not giving way to it "
                "until it does",
                name,
                now - _seen[name][1],
            )
            _stuck[name] = oldest
            continue
        age = (timezone.now() - oldest).total_seconds()
        if age > worst[1]:
            worst = (name, age)
    return worst


def give_way(
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """Wait while first-come work is behind (see the module docstring); returns seconds waited.

    When nothing waits this costs one query per probe. settings.GIVE_WAY_AFTER_SECONDS = 0 turns
    giving way off.
    """
    after = settings.GIVE_WAY_AFTER_SECONDS
    if after <= 0 or not _probes:
        return 0.0
    started = clock()
    name, age = behind(started)
    if age <= after:
        return 0.0
    log.info("giving way to %s: its oldest work has waited %.1f s", name, age)
    while age > after:
        if clock() - started >= settings.GIVE_WAY_MAX_SECONDS:
            log.warning("gave way to %s for %.0f s; going on", name, clock() - started)
            break
        sleep(STEP_SECONDS)
        name, age = behind(clock())
    return clock() - started
