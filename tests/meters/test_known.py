"""Objects Leap sends unchanged are recognised by their hash before validation (meters/sync/known.py).

The full sync passes such an object to the planner without validating or flattening it. These
tests check that the hash taken from the raw dict is the one the planner compares, that a full
sync leaves exactly what it leaves without the shortcut, that an unchanged night validates
nothing, and that an object found changed after all (a webhook's resync wrote its meter
meanwhile) is still validated and written, or kept as a failure.
"""

from __future__ import annotations

import uuid

import pytest

import leap
from leap.client import core
from leap.simulator import Simulator
from meters.models import Meter, ReasonCode, SyncFailure, SyncRun
from meters.sync import context, speed
from meters.sync.details import plan_details
from meters.sync.known import Known, stored_hashes
from meters.sync.snapshot import Prepared, canonical_json, prepare_details, prepare_enrollment
from tests.meters.test_pipeline import NOW, run, two_syncs, wipe

pytestmark = pytest.mark.django_db


@pytest.fixture
def validated(monkeypatch):
    """How many objects Leap sent were validated by the client, in this process."""
    count = {"objects": 0}
    original = core.ClientCore._page

    def spy(self, model, items, **page):
        count["objects"] += len(items)
        return original(self, model, items, **page)

    monkeypatch.setattr(core.ClientCore, "_page", spy)
    return count


def raw_pages(sim: Simulator, stream: str, size: int):
    """The search's pages as fetched, not validated (RawPage)."""
    with leap.use_transport(sim.transport(), sleep=lambda seconds: None):
        with leap.get_client() as client:
            search = (
                client.iter_meter_pages if stream == "details" else client.iter_enrollment_pages
            )
            return list(search(None, size, lazy=True))


@pytest.mark.parametrize(
    ("stream", "prepare"), [("details", prepare_details), ("enrollment", prepare_enrollment)]
)
def test_the_hash_of_the_raw_object_is_the_one_the_planner_compares(stream, prepare):
    sim = Simulator(meters=25, seed=8, now=NOW)
    pages = raw_pages(sim, stream, 10)
    full = [prepare(obj) for page in pages for obj in page.validate()]
    known = Known({str(item.meter_id): item.hash for item in full})

    quick = [known.match(raw) for page in pages for raw in page.items]

    assert len(full) == len(quick) == 25
    for item, fast in zip(full, quick, strict=True):
        assert fast is not None
        assert (fast.meter_id, fast.text, fast.hash) == (item.meter_id, item.text, item.hash)
        assert fast.data is None
    assert known.matched == known.checked == 25


def test_a_page_keeps_leaps_order_and_its_failures():
    sim = Simulator(meters=6, seed=8, now=NOW)
    (page,) = raw_pages(sim, "details", 10)
    raws = page.items
    details = page.validate()
    stored = {r["meter_id"]: prepare_details(d).hash for r, d in zip(raws, details, strict=True)}
    known = Known({k: v for i, (k, v) in enumerate(stored.items()) if i % 2 == 0})
    raws[1]["meter_type"] = {"not": "a meter type"}  # not known: validated, and fails
    raws[3]["city_of_nowhere"] = "a field Leap added"  # not known: validated, passes
    raws[4]["tags"] = ["changed"]  # known, but changed: validated, passes

    result = known.prepare_page(page, prepare_details)

    assert [str(item.meter_id) for item in result] == [raws[i]["meter_id"] for i in (0, 2, 3, 4, 5)]
    assert [item.data is None for item in result] == [True, True, False, False, False]
    assert [f.object_id for f in result.failures] == [raws[1]["meter_id"]]
    assert (known.checked, known.matched) == (3, 2)
    assert result.number == page.validate([]).number


@pytest.mark.django_db(transaction=True)  # wipe() truncates between the two runs
def test_a_full_sync_leaves_what_it_leaves_without_the_shortcut(monkeypatch, settings, validated):
    settings.METERS_SYNC_PAGE_SIZE = 7
    settings.METERS_SYNC_FETCH_PROCESS = False  # validation in this process: counted
    catalogue = set(ReasonCode.objects.values_list("code", flat=True))

    def syncs() -> dict:
        sim = Simulator(meters=60, seed=11, now=NOW)
        with leap.use_transport(sim.transport(), sleep=lambda seconds: None):
            return two_syncs(sim)

    with_known = syncs()
    with_known_validated = validated["objects"]
    wipe(catalogue)
    validated["objects"] = 0
    monkeypatch.setattr(speed, "stored_hashes", lambda stream: {})
    without = syncs()

    assert with_known["counts"] == without["counts"]
    assert with_known["counts"][0][1] > 0, "the second sync should have seen changes"
    for label, rows in without.items():
        assert with_known[label] == rows, f"{label} differs with the shortcut"
    # Without the shortcut both runs validate every object: 60 meters x 2 streams, then 59
    # (one removed). With it, the second run validated only the changed objects.
    assert validated["objects"] == 120 + 118
    assert 120 < with_known_validated < 120 + 118 - 20, with_known_validated


def test_an_unchanged_night_validates_nothing_and_writes_nothing(
    settings, validated, portfolio_writes
):
    settings.METERS_SYNC_FETCH_PROCESS = False
    sim = Simulator(meters=40, seed=4, now=NOW)
    with leap.use_transport(sim.transport(), sleep=lambda seconds: None):
        first = run(SyncRun.Kind.FULL)
        assert first.status == SyncRun.Status.DONE
        validated["objects"] = 0
        with portfolio_writes() as writes:
            again = run(SyncRun.Kind.FULL)
    assert again.status == SyncRun.Status.DONE, again.error
    assert validated["objects"] == 0
    assert writes.tables == []
    assert (again.unchanged, again.updated, again.created) == (40, 0, 0)
    # The run says so: nothing was stored before the first; then 40 meters x 2 objects.
    assert (first.unvalidated, again.unvalidated) == (0, 80)
    assert SyncRun.objects.get(pk=again.pk).unvalidated == 80  # saved, not only on the instance


def test_a_meter_written_meanwhile_is_validated_and_written_after_all(monkeypatch, settings):
    settings.METERS_SYNC_FETCH_PROCESS = False
    sim = Simulator(meters=20, seed=6, now=NOW)
    with leap.use_transport(sim.transport(), sleep=lambda seconds: None):
        assert run(SyncRun.Kind.FULL).status == SyncRun.Status.DONE
        # The hashes as the next full sync reads them when it starts...
        read_at_start = {stream: stored_hashes(stream) for stream in ("details", "enrollment")}
        monkeypatch.setattr(speed, "stored_hashes", lambda stream: read_at_start[stream])
        # ...then a webhook's resync writes a meter from an older payload of Leap's.
        meter = Meter.objects.get(meter_id=sim.meter_ids()[2])
        right = (meter.city, meter.details_hash, meter.global_enrollment_status)
        Meter.objects.filter(pk=meter.pk).update(
            city="Stale", details_hash="0" * 32, enrollment_hash="0" * 32,
            global_enrollment_status="STALE",
        )  # fmt: skip
        again = run(SyncRun.Kind.FULL)

    assert again.status == SyncRun.Status.DONE, again.error
    meter.refresh_from_db()
    assert (meter.city, meter.details_hash, meter.global_enrollment_status) == right
    assert again.updated == 1
    assert again.unvalidated == 20 * 2 - 2  # that meter's two objects were validated after all


def test_an_object_that_no_longer_validates_is_kept_as_a_failure():
    sim = Simulator(meters=3, seed=6, now=NOW)
    (page,) = raw_pages(sim, "details", 10)
    details = list(page.validate())
    sync_run = SyncRun.objects.create(kind=SyncRun.Kind.FULL, status=SyncRun.Status.RUNNING)
    ctx = context.Context(run=sync_run, now=NOW)
    plan = plan_details(ctx, [prepare_details(d) for d in details])
    assert plan is not None
    plan.write(ctx)
    Meter.objects.update(details_hash="0" * 32)  # changed since the hashes were read
    bad = dict(page.items[0], meter_type={"not": "a meter type"})
    text = canonical_json(bad)
    items = [Prepared(uuid.UUID(bad["meter_id"]), text, "1" * 32, None)]
    items += [prepare_details(d) for d in details[1:]]

    later = context.Context(run=sync_run, now=NOW)
    plan = plan_details(later, items)

    assert plan is not None
    assert [row["meter_id"] for row in plan.updates] == [d.meter_id for d in details[1:]]
    failure = SyncFailure.objects.get(sync_run=sync_run)
    assert (failure.meter_id, failure.stream) == (details[0].meter_id, "details")
    assert failure.raw["meter_type"] == {"not": "a meter type"}
    assert (later.processed, later.failed) == (2, 1)
