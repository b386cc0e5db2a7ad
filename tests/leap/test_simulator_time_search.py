"""Time-filtered searches (modified or created since a time) look only at the meters that can match,
and answer exactly what walking every meter answers: same meters, same pages, same page tokens."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from leap.simulator import Simulator, api
from leap.simulator.base_times import TimeWindow, merged
from leap.simulator.meter_state import iso
from tests.leap.simulator_fakes import NOW, all_pages, http

US = timedelta(microseconds=1)


def changed_sim() -> Simulator:
    """A portfolio with an overlay: random changes, a status change, an added and removed meter."""
    sim = Simulator(seed=13, meters=150, now=NOW, changes_per_hour=20)
    sim.advance(hours=2)
    ids = sim.meter_ids()
    sim.set_global_status(ids[10], "INELIGIBLE")
    sim.add_meter(region="ERCOT")
    gone = sim.add_meter(region="CAISO")
    sim.remove_meter(gone.meter_id)
    sim.remove_meter(ids[20])
    sim.advance(minutes=3, changes=0)
    assert len(sim.portfolio.overlay) > 20
    return sim


def edge_times(sim: Simulator) -> list[datetime]:
    """Times at, just before and just after meters' own times, and outside every meter's."""
    overlay = sorted(sim.portfolio.overlay)
    states = [sim.portfolio.get(i) for i in [0, 49, 98, 149, *overlay[::8]]]
    times = [NOW - timedelta(days=800), NOW, sim.now, sim.now + timedelta(days=1)]
    for state in states:
        for moment in (state.updated_at, state.created_at):
            rendered = datetime.fromisoformat(iso(moment).replace("Z", "+00:00"))
            times += [moment, moment - US, moment + US, rendered]
    return times


def windows(sim: Simulator) -> list[TimeWindow]:
    times = edge_times(sim)
    found = [TimeWindow(modified_after=t) for t in times]
    found += [TimeWindow(created_after=t) for t in times]
    found += [TimeWindow(created_before=t) for t in times]
    found += [
        TimeWindow(modified_after=a, created_after=b, created_before=c)
        for a, b, c in zip(times, reversed(times), times[5:] + times[:5], strict=True)
    ]
    return found


def pages(
    sim: Simulator, window: TimeWindow, size: int, *, skip: bool
) -> list[tuple[list[str], int]]:
    """Every page (meter ids, next index) of a scan with `window`'s filters; with `skip`, the
    scan is given the window to skip meters by, else it walks every meter, as before."""
    modified, after, before = window.modified_after, window.created_after, window.created_before

    def prefilter(core):
        return (
            (not modified or core.updated_at > modified)
            and (not after or core.created_at > after)
            and not (before and not core.created_at < before)
        )

    def accept(state):
        return (
            (not modified or state.updated_at > modified)
            and (not after or state.created_at > after)
            and (not before or state.created_at < before)
        )

    out, start = [], 0
    while True:
        found, start = sim.portfolio.scan(
            start, prefilter, accept, size, window=window if skip else None
        )
        out.append(([s.meter_id for s in found], start))
        if start >= sim.portfolio.next_index:
            return out


def test_a_time_window_scans_the_same_pages_as_walking_every_meter():
    sim = changed_sim()
    matched = empty = 0
    for window in windows(sim):
        for size in (3, 500):
            walked = pages(sim, window, size, skip=False)
            assert pages(sim, window, size, skip=True) == walked, (window, size)
            count = sum(len(ids) for ids, _ in walked)
            matched += count
            empty += count == 0
    assert matched > 1000 and empty  # windows that select many meters, and some that select none


def test_the_api_answers_time_filtered_searches_as_before(monkeypatch):
    sim = changed_sim()
    client = http(sim)
    offset = timezone(timedelta(hours=-5))
    bodies = []
    for t in edge_times(sim)[::12]:
        bodies += [
            {"last_modified_date_time": t.isoformat()},
            {"created_after_date_time": t.astimezone(offset).isoformat()},
            {"created_before_date_time": iso(t)},
            {"last_modified_date_time": t.isoformat(), "exclude_archived": True},
        ]
    bodies.append({"last_modified_date_time": "2026-11-24T08:00:00.000000001Z"})
    answers = {}
    for path in ("/v2/meters/search", "/v2/meters/enrollments/search"):
        for n, body in enumerate(bodies):
            for size in (40, 500):
                answers[path, n, size] = raw_pages(client, path, {**body, "page_size": size})
    # As before: no window, so the scan walks every meter.
    monkeypatch.setattr(api, "time_window", lambda query: TimeWindow())
    for (path, n, size), got in answers.items():
        assert raw_pages(client, path, {**bodies[n], "page_size": size}) == got, (path, bodies[n])
    assert any(len(pages) > 1 for pages in answers.values())


def raw_pages(client, path: str, body: dict) -> list[dict]:
    """Every response body of a search, page tokens included."""
    out, token = [], None
    while True:
        answer = client.post(path, json={**body, **({"page_token": token} if token else {})})
        assert answer.status_code == 200, answer.text
        out.append(answer.json())
        token = out[-1].get("next_page_token")
        if not token:
            return out


def test_an_incremental_search_builds_only_the_meters_that_changed(monkeypatch):
    sim = Simulator(seed=2, meters=20_000, now=NOW)
    since = sim.now
    sim.advance(minutes=5, changes=0)
    changed = [sim.meter_ids(40)[k] for k in (3, 17, 31)]
    for meter_id in changed:
        sim.set_global_status(meter_id, "INELIGIBLE")
    built = []
    generator = sim.portfolio.generator
    real_build = generator.build
    monkeypatch.setattr(
        generator, "build", lambda i, core=None: built.append(i) or real_build(i, core)
    )
    core_calls = []
    real_core = generator.core
    monkeypatch.setattr(generator, "core", lambda i: core_calls.append(i) or real_core(i))
    client = http(sim)
    for path in ("/v2/meters/search", "/v2/meters/enrollments/search"):
        got = all_pages(client, path, {"last_modified_date_time": since.isoformat()})
        assert sorted(m["meter_id"] for page in got for m in page) == sorted(changed)
    assert built == []  # changed meters live in the overlay: nothing generated was built
    assert len(core_calls) == 20_000  # each generated meter's times, once, for both searches


@pytest.mark.parametrize(
    ("base", "overlay", "start", "expected"),
    [
        ([], [], 0, []),
        ([1, 4, 9], [], 0, [1, 4, 9]),
        ([1, 4, 9], [0, 4, 12], 0, [0, 1, 4, 9, 12]),
        ([1, 4, 9], [0, 4, 12], 4, [4, 9, 12]),
        ([1, 4, 9], [0, 4, 12], 13, []),
    ],
)
def test_merged_yields_each_index_once_in_order(base, overlay, start, expected):
    from array import array

    assert list(merged(array("q", base), overlay, start)) == expected
