"""Our Celery queues: dispatch work and sync work never wait behind each other.

- dispatch: draining dispatch notifications, the reconcile poll, hand-on webhooks (seconds count);
- sync: the meter syncs and meter webhook events (a full sync keeps a worker busy for minutes);
- sync also takes the revenue sync (a 1.2-million-row report is minutes of work);
- the default queue: the rest (worker heartbeats, alerts, onboarding polls, the action queue's
  large bulk changes, ops.tasks).

Each gets its own worker(s), so a 100,000-meter full sync never delays a dispatch, and workers can
be added per queue on more machines (README, production notes). Plain module (no Django): the
settings, the test fixtures, `make demo` and the benchmarks all derive the names here.
"""

from __future__ import annotations

DISPATCH_TASKS = "dispatch.tasks.*"
SYNC_TASKS = "meters.tasks.*"
REVENUE_TASKS = "revenue.tasks.*"


def names(default: str) -> dict[str, str]:
    """The three queue names for a default queue name.

    Production's default queue is "celery", and its others are "dispatch" and "sync". Any other
    default name (a pytest process's own, a benchmark's) prefixes them, so parallel runs sharing
    one Redis never take each other's tasks.
    """
    if default == "celery":
        return {"default": "celery", "dispatch": "dispatch", "sync": "sync"}
    return {"default": default, "dispatch": f"{default}-dispatch", "sync": f"{default}-sync"}


def routes(queues: dict[str, str]) -> dict[str, dict[str, str]]:
    """CELERY_TASK_ROUTES for these queues."""
    return {
        DISPATCH_TASKS: {"queue": queues["dispatch"]},
        SYNC_TASKS: {"queue": queues["sync"]},
        REVENUE_TASKS: {"queue": queues["sync"]},
    }


def all_of(default: str) -> str:
    """The -Q value of a worker that takes every queue (tests, small setups)."""
    return ",".join(names(default).values())


if __name__ == "__main__":  # `python -m leapportal.queues NAME [dispatch|sync|default|all]`
    import sys

    base = sys.argv[1] if len(sys.argv) > 1 else "celery"
    which = sys.argv[2] if len(sys.argv) > 2 else "all"
    print(all_of(base) if which == "all" else names(base)[which])
