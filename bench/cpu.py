"""The CPU side of bench/mixed_load.py: service priorities that Linux applies, and whether the
parts' cores fit the machine at all."""

from __future__ import annotations

import os
import time
from pathlib import Path


def autogroup_nice(pid: int, value: int) -> None:
    """Give a session leader's autogroup this nice value (its children share the autogroup).

    With kernel.sched_autogroup_enabled=1 (Debian's default) every session is an autogroup, and
    the scheduler shares the cores between autogroups first: a process's own nice value only
    weighs against the other processes of its session. Each service here runs in a session of
    its own, so `nice -n 10` alone left the sync worker an equal share with gunicorn, the
    dispatch worker and PostgreSQL (runs 1-8 of docs/benchmarks.md). Writing the autogroup's
    nice (man 7 sched) is what makes the priority real.
    """
    path = Path(f"/proc/{pid}/autogroup")
    if not value or not path.exists():
        return
    try:
        path.write_text(str(value))
    except OSError as exc:
        print(f"warning: could not set the autogroup nice of {pid} to {value}: {exc}", flush=True)


STAND_INS = ("simulator", "load generator")


def budget(pages: dict, dispatch: dict, sync: dict, cores: int | None = None) -> str:
    """Whether the three targets fit the machine at all, from each part's cores alone.

    Together at its targets, the sync may take twice as long, so it needs half the cores it used
    alone; pages and dispatch need what they used alone (their rates do not change). If that sum
    exceeds the machine's cores, no scheduling meets the three at once. The stand-ins' cores
    (the simulator, which is Leap's servers in production, and this process, which is the users'
    browsers and Leap's senders) are reported apart: production does not run them on these cores.
    "postgres" counts every PostgreSQL process on the machine.
    """

    def split(cores: dict) -> tuple[float, float]:
        stand_in = sum(v for k, v in cores.items() if k in STAND_INS)
        return sum(cores.values()) - stand_in, stand_in

    (p, ps), (d, ds), (s, ss) = split(pages), split(dispatch), split(sync)
    ours, stand_ins = p + d + s / 2, ps + ds + ss / 2
    have = cores or os.cpu_count() or 1
    return (
        f"CPU budget at the targets (cores): pages {p:.2f} + dispatch {d:.2f} + half the sync's "
        f"{s:.2f} = {ours:.2f} of ours, plus {stand_ins:.2f} of the stand-ins = "
        f"{ours + stand_ins:.2f} against {have} cores: "
        + ("fits" if ours + stand_ins <= have else "does not fit, with the stand-ins")
        + ("" if ours <= have else "; does not fit even without them")
    )


def machine_ticks() -> dict[str, int]:
    """The whole machine's CPU time so far in clock ticks, by kind (the first line of /proc/stat).

    "busy" is user + nice + system + irq + softirq; "steal" is time the hypervisor gave another
    guest while this one had work (a shared VM's quiet loss of cores); "iowait" counts as idle.
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return {"busy": user + nice + system + irq + softirq, "idle": idle + iowait, "steal": steal}


def machine_cores(before: dict[str, int], after: dict[str, int], wall: float) -> dict[str, float]:
    """Cores of the machine busy, idle and stolen between two machine_ticks(), per wall second."""
    tick = os.sysconf("SC_CLK_TCK")
    return {k: (after[k] - before[k]) / tick / wall if wall > 0 else 0.0 for k in after}


def machine_speed(rounds: int = 5) -> float:
    """Milliseconds of CPU (this process's own) for a fixed pure-Python loop; the least of `rounds`.

    CPU time, not wall time, so other processes waiting for a core do not count; what moves it is
    the core itself (its clock, and what a shared host's other guests do to its caches). Taken
    before each part of bench/mixed_load.py, with the services idle, it shows the machine's drift
    between a part and the next.
    """
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i * i % 7
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)
