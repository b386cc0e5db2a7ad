"""dispatch.bulk: many rows written by COPY, values exactly as save() stores them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.db import transaction

from dispatch.bulk import insert_rows, update_rows
from dispatch.models import DispatchDelivery, DispatchTimeslot, DispatchTimeslotVersion, Level

pytestmark = pytest.mark.django_db


def _delivery(body: bytes) -> DispatchDelivery:
    return DispatchDelivery.objects.create(
        level=Level.METER, body=body, body_sha256=DispatchDelivery.hash_body(body), size=len(body)
    )


def test_update_rows_writes_text_json_foreign_keys_nulls_and_times():
    first, second, third, untouched = (_delivery(f"{{{i}}}".encode()) for i in range(4))
    when = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    first.status, first.summary, first.attempts = "processed", {"created": 2, "x": ["a'b"]}, 1
    second.status, second.duplicate_of, second.error = "duplicate", first, 'it\'s "quoted"'
    third.status, third.summary, third.processed_at = "rejected", {}, when
    for d in (first, second):
        d.processed_at = when

    # COPY into a staging table, then one UPDATE .. FROM it (leapportal.bulk.update_objects).
    update_rows(
        [first, second, third],
        ["status", "error", "processed_at", "attempts", "summary", "duplicate_of"],
    )

    rows = {d.pk: d for d in DispatchDelivery.objects.all()}
    assert (rows[first.pk].status, rows[first.pk].summary, rows[first.pk].attempts) == (
        "processed",
        {"created": 2, "x": ["a'b"]},
        1,
    )
    assert rows[first.pk].duplicate_of_id is None and rows[first.pk].processed_at == when
    assert (rows[second.pk].status, rows[second.pk].duplicate_of_id) == ("duplicate", first.pk)
    assert rows[second.pk].error == 'it\'s "quoted"'
    assert (rows[third.pk].status, rows[third.pk].summary, rows[third.pk].processed_at) == (
        "rejected",
        {},
        when,
    )
    assert rows[untouched.pk].status == "received" and rows[untouched.pk].processed_at is None


def test_update_rows_with_nothing_to_do_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        update_rows([], ["status"])


def test_update_rows_twice_in_one_transaction_writes_each_time():
    delivery = _delivery(b"{}")
    with transaction.atomic():
        delivery.status = "processed"
        update_rows([delivery], ["status"])
        delivery.status, delivery.error = "rejected", "second thoughts"
        update_rows([delivery], ["status", "error"])
        delivery.attempts = 3
        update_rows([delivery], ["attempts"])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error, delivery.attempts) == (
        "rejected",
        "second thoughts",
        3,
    )


def test_insert_rows_with_a_conflict_key_leaves_out_what_exists_and_sets_the_pks():

    def timeslot(event_id):
        start = datetime(2026, 3, 4, 5, tzinfo=UTC)
        return DispatchTimeslot(
            event_id=event_id,
            level=Level.METER,
            meter_uuid=uuid.uuid4(),
            start_time=start,
            end_time=start.replace(hour=6),
            raw={"note": "tab\there, quote ' and backslash \\"},
            programs=["CCA"],
            first_source="webhook",
        )

    taken = uuid.uuid4()
    existing = timeslot(taken)
    existing.save()
    fresh = [timeslot(uuid.uuid4()), timeslot(uuid.uuid4())]

    inserted = insert_rows([timeslot(taken), *fresh], conflict_key="event_id")

    assert inserted == fresh and all(ts.pk and not ts._state.adding for ts in inserted)
    assert DispatchTimeslot.objects.count() == 3
    stored = DispatchTimeslot.objects.get(pk=fresh[0].pk)
    assert stored.event_id == fresh[0].event_id and stored.raw == fresh[0].raw
    assert stored.programs == ["CCA"] and stored.start_time == fresh[0].start_time


def test_insert_rows_without_a_conflict_key_copies_stand_ins_of_every_column():

    start = datetime(2026, 3, 4, 5, tzinfo=UTC)
    ts = DispatchTimeslot.objects.create(
        event_id=uuid.uuid4(),
        level=Level.METER,
        meter_uuid=uuid.uuid4(),
        start_time=start,
        end_time=start.replace(hour=6),
        first_source="webhook",
    )
    # Every column but the auto pk, as the planner's and the ingest's stand-ins carry them.
    defaults = {
        f.attname: f.get_default()
        for f in DispatchTimeslotVersion._meta.concrete_fields
        if not f.primary_key
    }
    rows = [
        SimpleNamespace(
            **{
                **defaults,
                "timeslot_id": ts.pk,
                "version": i + 1,
                "kind": "updated",
                "source": "webhook",
                "changes": {"start_time": [None, f"tab\t{i}"]},
            }
        )
        for i in range(3)
    ]

    assert insert_rows(rows, model=DispatchTimeslotVersion) == rows
    stored = DispatchTimeslotVersion.objects.order_by("version")
    assert [(v.version, v.changes, v.snapshot) for v in stored] == [
        (i + 1, {"start_time": [None, f"tab\t{i}"]}, {}) for i in range(3)
    ]


def test_rows_that_are_not_model_instances_need_their_model_named():

    with pytest.raises(TypeError):
        insert_rows([SimpleNamespace(id=1)])
    with pytest.raises(TypeError):
        update_rows([SimpleNamespace(id=1)], ["status"])


def _fields(obj: DispatchTimeslot) -> dict[str, object]:
    return {f.attname: getattr(obj, f.attname) for f in DispatchTimeslot._meta.concrete_fields}


@pytest.mark.parametrize("level", ["meter", "group"])
def test_unsaved_builds_the_instance_the_keyword_init_builds(level):
    """leapportal.bulk.unsaved, the apply's constructor of new timeslots: the same values (given,
    defaults, computed defaults), relations set by instance or None, and the relation caches."""
    from leapportal import bulk
    from tests.dashboard.factories import make_group, make_meter

    delivery = _delivery(b"{}")
    meter, group = make_meter(), make_group()
    recipient = (
        {"meter": meter, "meter_uuid": meter.pk, "market_group": None}
        if level == "meter"
        else {"market_group": group, "market_group_uuid": group.pk, "meter": None}
    )
    given = {
        "event_id": uuid.uuid4(),
        "level": level,
        "start_time": datetime(2026, 5, 1, 10, tzinfo=UTC),
        "end_time": datetime(2026, 5, 1, 11, tzinfo=UTC),
        "programs": ["CCA"],
        "raw": {"x": 1},
        "content_hash": "h",
        "first_source": "webhook",
        "first_delivery": delivery,
        "last_delivery": None,
        **recipient,
    }
    fast, slow = bulk.unsaved(DispatchTimeslot, **given), DispatchTimeslot(**given)

    computed = {"first_seen_at", "last_seen_at", "changed_at", "applied_received_at"}
    assert {k: v for k, v in _fields(fast).items() if k not in computed} == {
        k: v for k, v in _fields(slow).items() if k not in computed
    }
    for name in computed:  # timezone.now, called per instance
        assert abs((getattr(fast, name) - getattr(slow, name)).total_seconds()) < 5
    assert fast.first_delivery is delivery and fast.first_delivery_id == delivery.pk
    assert fast.last_delivery is None and fast.last_delivery_id is None
    assert fast.meter is recipient["meter"] and fast.market_group is recipient["market_group"]
    assert fast.group_meter_ids == [] and fast.group_meter_ids is not slow.group_meter_ids
    assert bulk.unsaved(DispatchTimeslot).group_meter_ids is not fast.group_meter_ids
    assert fast.pk is None and fast._state.adding
    fast.save()
    assert _fields(DispatchTimeslot.objects.get(pk=fast.pk))["first_delivery_id"] == delivery.pk
