"""bench/mixed_load.py says whether its three targets can fit the machine at all (bench/cpu.budget)."""

from __future__ import annotations

from bench.cpu import budget


def test_the_budget_counts_half_the_sync_and_keeps_the_stand_ins_apart():
    pages = {"gunicorn": 0.6, "postgres": 0.4, "load generator": 0.1}
    dispatch = {"gunicorn": 0.3, "dispatch worker": 0.4, "postgres": 0.3, "load generator": 0.1}
    sync = {"sync worker": 1.0, "postgres": 0.2, "simulator": 0.6}
    line = budget(pages, dispatch, sync, cores=2)
    # ours: 1.0 + 1.0 + 1.2 / 2 = 2.6; stand-ins: 0.1 + 0.1 + 0.6 / 2 = 0.5
    assert "= 2.60 of ours, plus 0.50 of the stand-ins = 3.10 against 2 cores" in line
    assert line.endswith("does not fit, with the stand-ins; does not fit even without them")


def test_the_budget_fits_when_the_parts_leave_room_for_half_the_sync():
    pages = {"gunicorn": 0.3, "postgres": 0.1}
    dispatch = {"dispatch worker": 0.3, "load generator": 0.05}
    sync = {"sync worker": 1.2, "simulator": 0.4}
    line = budget(pages, dispatch, sync, cores=2)
    assert "= 1.30 of ours, plus 0.25 of the stand-ins = 1.55 against 2 cores: fits" in line
