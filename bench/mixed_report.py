"""The report of bench/mixed_load.py: the table docs/benchmarks.md takes, and what explains it."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.cpu import budget
from bench.leap_floor import machine


def report(out: dict[str, dict], load_before: tuple, logdir: Path) -> None:
    """The table docs/benchmarks.md takes, each part alone and together against its target."""
    print(f"\nmachine: {machine()}; load average before: {load_before}")
    print("command: DATABASE_URL=... CELERY_BROKER_URL=... python bench/mixed_load.py "
          + " ".join(sys.argv[1:]))  # fmt: skip
    print(f"logs: {logdir}\n")
    pa, pt = out["pages alone"], out["together: pages"]
    da, dt = out["dispatch alone"], out["together: dispatch"]
    sa, st, sb = out["sync alone"], out["together: sync"], out["sync alone after"]
    solo = (sa["seconds"] + sb["seconds"]) / 2
    ratio = st["seconds"] / solo if solo else float("nan")
    ratios = " / ".join(
        f"{st['seconds'] / s['seconds']:.2f}x" if s["seconds"] else "-" for s in (sa, sb)
    )
    rows = [
        ("page p95 (ms)", pa["page p95 (ms)"], pt["page p95 (ms)"], "<= 300"),
        ("page p50 (ms)", pa["page p50 (ms)"], pt["page p50 (ms)"], ""),
        ("pages served / non-200", f"{pa['pages served']} / {pa['non-200']}",
         f"{pt['pages served']} / {pt['non-200']}", "0 non-200"),
        ("dispatch receipt-to-visible p95 (s)", da["receipt-to-visible p95 (s)"],
         dt["receipt-to-visible p95 (s)"], "<= 2"),
        ("dispatch ack p99 (ms)", da["ack p99 (ms)"], dt["ack p99 (ms)"], ""),
        ("dispatch accepted / lost", f"{da['accepted (202)']} / {da['lost']}",
         f"{dt['accepted (202)']} / {dt['lost']}", "0 lost"),
        ("dispatch sent per second / over (s)", f"{da['sent per second']} / {da['sent over (s)']}",
         f"{dt['sent per second']} / {dt['sent over (s)']}", "200"),
        ("full sync (s): before / after the together part", f"{sa['seconds']} / {sb['seconds']}",
         f"{st['seconds']} ({ratio:.2f}x the mean, {ratios} each; {st['gave way (s)']} s "
         "giving way)", "<= 2x solo"),
    ]  # fmt: skip
    print("| measure | alone | together | target |")
    print("| --- | ---: | ---: | --- |")
    for name, alone, together, target in rows:
        print(f"| {name} | {alone} | {together} | {target} |")
    print(f"\nburst: {out['burst']}")
    print(f"autovacuum's stand-in: {out['autovacuum']}")
    print(f"\nslowest pages alone: {pa['slowest pages (p95 ms)']}; together: "
          f"{pt['slowest pages (p95 ms)']}")  # fmt: skip
    print(f"\ncores busy (CPU seconds per second): pages alone {pa['cores busy']}; dispatch alone "
          f"{da['cores busy']}; sync alone {sa['cores busy']}; together {st['cores busy']}; "
          f"sync alone after {sb['cores busy']}")  # fmt: skip
    print("\n" + budget(pa["cores busy"], da["cores busy"], sa["cores busy"]))
    print(f"\nthe whole machine (cores busy, idle, stolen): pages alone {pa['machine (cores)']}; "
          f"dispatch alone {da['machine (cores)']}; sync alone {sa['machine (cores)']}; "
          f"together {st['machine (cores)']}; sync alone after {sb['machine (cores)']}")  # fmt: skip
    probes = {k: v["probe before (ms CPU)"] for k, v in out.items() if "probe before (ms CPU)" in v}
    print(
        f"CPU probe before each part (ms of CPU for the same loop: the machine's speed): {probes}"
    )
    print(f"while the sync ran together: dispatch behind (oldest waiting over "
          f"the linger + GIVE_WAY_AFTER_SECONDS) {st['dispatch behind (s)']} s, idle cores then "
          f"{st['idle cores, dispatch behind']}, otherwise {st['idle cores, otherwise']}; "
          f"stolen {st['stolen cores']}")  # fmt: skip
