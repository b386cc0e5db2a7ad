"""Processing notifications into timeslots: Leap's core event-processing cases.

Updates and cancellations reuse the event id; the same id may arrive again unchanged.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch import inbox
from dispatch.models import (
    DispatchDelivery,
    DispatchTimeslot,
    DispatchTimeslotVersion,
    RejectedTimeslot,
)
from meters.models import MarketGroup
from tests.dispatch.helpers import T0, group_notification, iso, meter_notification, slot

pytestmark = pytest.mark.django_db


def test_a_new_event_is_stored_with_every_field(deliver, make_meter):
    meter = make_meter()
    event = uuid.uuid4()
    deliver(
        meter_notification(
            (
                meter.pk,
                [
                    slot(
                        event,
                        energy_kw=4.0,
                        nomination_kw=4.0,
                        priority=2,
                        dispatch_event_types=["day-ahead", "capacity-test"],
                        programs=["CCA"],
                    )
                ],
            )
        )
    )

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.level == "meter" and ts.meter == meter and ts.meter_uuid == meter.pk
    assert ts.partner_reference == f"ref-{str(meter.pk)[:8]}"
    assert (ts.start_time, ts.end_time) == (T0, T0 + timedelta(hours=1))
    assert (ts.energy_kw, ts.nomination_kw, ts.priority) == (4.0, 4.0, 2)
    assert ts.performance_compensation_cap == "up-to-site-load"
    assert ts.is_voluntary is False and ts.cancelled is False
    assert ts.dispatch_event_types == ["capacity-test", "day-ahead"]
    assert ts.programs == ["CCA"]
    assert ts.integration_test is False and ts.communication_test is False
    assert ts.raw["meter_event_id"] == str(event)
    assert ts.first_source == "webhook" and ts.version == 1
    assert list(ts.versions.values_list("kind", flat=True)) == ["created"]
    assert ts.versions.get().delivery == DispatchDelivery.objects.get()


def test_several_timeslots_and_meters_in_one_notification_are_each_an_event(deliver, make_meter):
    m1, m2, m3 = make_meter(), make_meter(), make_meter()
    deliver(
        meter_notification(
            (
                m1.pk,
                [slot(), slot(start=T0 + timedelta(hours=2)), slot(start=T0 + timedelta(hours=4))],
            ),
            (m2.pk, [slot()]),
            (m3.pk, [slot(), slot(start=T0 + timedelta(days=1))]),
        )
    )

    assert DispatchTimeslot.objects.count() == 6
    per_meter = {m.pk: m.dispatch_timeslots.count() for m in (m1, m2, m3)}
    assert per_meter == {m1.pk: 3, m2.pk: 1, m3.pk: 2}
    assert DispatchDelivery.objects.get().summary == {"created": 6}


def test_an_exact_redelivery_changes_nothing(deliver, make_meter):
    payload = meter_notification((make_meter().pk, [slot(), slot(start=T0 + timedelta(hours=3))]))
    deliver(payload)
    before = list(
        DispatchTimeslot.objects.values("event_id", "version", "changed_at", "content_hash")
    )

    deliver(payload)

    assert (
        list(DispatchTimeslot.objects.values("event_id", "version", "changed_at", "content_hash"))
        == before
    )
    assert DispatchTimeslotVersion.objects.count() == 2
    assert list(DispatchDelivery.objects.order_by("pk").values_list("status", flat=True)) == [
        "processed",
        "duplicate",
    ]


def test_the_same_content_in_a_different_body_changes_nothing(deliver, make_meter):
    meter, event = make_meter(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(event)])))
    # Same event, same values, but sent along with another meter: a new body, same content.
    deliver(meter_notification((meter.pk, [slot(event)]), (make_meter().pk, [slot()])))

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.version == 1 and ts.versions.count() == 1
    assert DispatchDelivery.objects.order_by("pk").last().summary == {"created": 1, "unchanged": 1}


def test_a_kw_update_overwrites_and_records_a_version(deliver, make_meter):
    meter, event = make_meter(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(event, energy_kw=8.0)])))
    deliver(meter_notification((meter.pk, [slot(event, energy_kw=6.5)])))

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.energy_kw == 6.5 and ts.version == 2
    latest = ts.versions.order_by("-version").first()
    assert latest.kind == "updated"
    assert latest.changes == {"energy_kw": [8.0, 6.5]}
    assert latest.delivery == DispatchDelivery.objects.order_by("pk").last()


def test_a_window_update_moves_the_event(deliver, make_meter):
    meter, event = make_meter(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(event)])))
    later = T0 + timedelta(minutes=30)
    deliver(meter_notification((meter.pk, [slot(event, start=later, hours=2)])))

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert (ts.start_time, ts.end_time) == (later, later + timedelta(hours=2))
    change = ts.versions.get(version=2).changes
    assert set(change) == {"start_time", "end_time"}
    assert change["start_time"] == [iso(T0), iso(later)]


def test_a_cancellation_keeps_the_row_marked_cancelled(deliver, make_meter):
    meter, event = make_meter(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(event)])))
    deliver(meter_notification((meter.pk, [slot(event, cancelled=True)])))

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.cancelled is True
    assert ts.versions.get(version=2).kind == "cancelled"
    assert not DispatchTimeslot.objects.active().exists()
    assert DispatchTimeslot.objects.live().count() == 1


def test_a_null_energy_means_as_much_as_the_meter_can(deliver, make_meter):
    meter = make_meter()
    deliver(
        meter_notification(
            (meter.pk, [slot(energy_kw=None, nomination_kw=None, programs=["ELRP"], priority=3)])
        )
    )

    ts = DispatchTimeslot.objects.get()
    assert ts.energy_kw is None and ts.nomination_kw is None
    alloc = ts.allocations.get()
    assert alloc.share_kw is None and alloc.followed


def test_an_integration_test_notification_is_stored_marked_and_left_out_of_ops(deliver, make_meter):
    meter = make_meter()
    deliver(meter_notification((meter.pk, [slot()]), integration_test=True))

    delivery = DispatchDelivery.objects.get()
    assert delivery.integration_test and delivery.status == "processed"
    ts = DispatchTimeslot.objects.get()
    assert ts.integration_test
    assert not DispatchTimeslot.objects.live().exists()
    assert not DispatchTimeslot.objects.for_ops().exists()
    assert DispatchTimeslot.objects.for_ops(include_tests=True).get() == ts


def test_a_test_notification_never_overwrites_a_real_event(deliver, make_meter):
    meter, event = make_meter(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(event, energy_kw=8.0)])))
    deliver(meter_notification((meter.pk, [slot(event, energy_kw=1.0)]), integration_test=True))

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.energy_kw == 8.0 and not ts.integration_test
    last = DispatchDelivery.objects.order_by("pk").last()
    assert last.summary["refused"] == 1 and "refused" in last.error


def test_a_communication_test_flag_is_kept_on_the_timeslot(deliver, make_meter):
    deliver(meter_notification((make_meter().pk, [slot()]), communication_test=True))

    assert DispatchTimeslot.objects.get().communication_test is True


def test_a_group_dispatch_keeps_its_group_members_and_references(deliver, make_meter):
    group = MarketGroup.objects.create(market_group_id=uuid.uuid4(), name="PGSB_1_PDRP68")
    members = [make_meter().pk, make_meter().pk]
    event = uuid.uuid4()
    deliver(group_notification(group.pk, members, [slot(event, level="group")]), level="group")

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.level == "group" and ts.market_group == group and ts.meter is None
    assert ts.group_meter_ids == sorted(str(m) for m in members)
    assert len(ts.group_partner_references) == 2
    assert ts.raw["market_group_event_id"] == str(event)


def test_an_older_notification_processed_after_a_newer_one_is_not_applied(make_meter):
    """Out of order: deliveries are applied by receipt time, whatever order workers take them."""
    meter, event = make_meter(), uuid.uuid4()
    now = timezone.now()
    older = _stored(meter_notification((meter.pk, [slot(event, energy_kw=5.0)])), now)
    newer = _stored(
        meter_notification((meter.pk, [slot(event, energy_kw=7.0)])), now + timedelta(seconds=5)
    )

    # Two workers, each with its own delivery (no batching), the newer one first.
    inbox.process_delivery(newer.pk, batch_size=1)
    inbox.process_delivery(older.pk, batch_size=1)

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.energy_kw == 7.0 and ts.version == 1
    stale = ts.versions.get(kind="stale")
    assert stale.changes == {"energy_kw": [7.0, 5.0]} and stale.delivery == older
    older.refresh_from_db()
    assert older.status == "processed" and older.summary == {"stale": 1}


def test_a_body_repeating_an_older_version_after_a_change_is_applied(deliver, make_meter):
    """A -> B -> A: per event, content that differs from the current version is applied, whatever
    older version it repeats (Leap putting kW back); only the current state again is a no-op."""
    meter, event = make_meter(), uuid.uuid4()
    v1 = meter_notification((meter.pk, [slot(event, energy_kw=5.0)]))
    deliver(v1)
    deliver(meter_notification((meter.pk, [slot(event, energy_kw=7.0)])))
    deliver(v1)

    ts = DispatchTimeslot.objects.get(event_id=event)
    assert (ts.energy_kw, ts.version) == (5.0, 3)
    assert ts.versions.get(version=3).changes == {"energy_kw": [7.0, 5.0]}
    assert DispatchDelivery.objects.order_by("pk").last().status == "processed"

    deliver(v1)  # the current state again: nothing changes

    last = DispatchDelivery.objects.order_by("pk").last()
    assert (last.status, last.summary) == ("duplicate", {"unchanged": 1})
    assert last.duplicate_of == ts.versions.get(version=3).delivery
    assert DispatchTimeslot.objects.get(event_id=event).version == 3


def test_processing_twice_is_a_no_op(make_meter):
    delivery = _stored(meter_notification((make_meter().pk, [slot()])), timezone.now())
    inbox.process_delivery(delivery.pk)
    inbox.process_delivery(delivery.pk)

    assert DispatchTimeslotVersion.objects.count() == 1


def test_a_timeslot_ending_before_it_starts_is_refused_with_a_reason(deliver, make_meter):
    meter = make_meter()
    good, bad = slot(), slot(start=T0, end=T0 - timedelta(hours=1))
    deliver(meter_notification((meter.pk, [good, bad])))

    delivery = DispatchDelivery.objects.get()
    assert delivery.status == "processed" and delivery.summary["invalid"] == 1
    assert "is not after start_time" in delivery.error
    assert DispatchTimeslot.objects.count() == 1


def test_a_timeslot_the_schema_refuses_is_kept_with_its_error_and_the_rest_applies(
    deliver, make_meter
):
    meter = make_meter()
    good, bad = uuid.uuid4(), uuid.uuid4()
    response = deliver(meter_notification((meter.pk, [slot(good), slot(bad, priority="high")])))

    assert response.status_code == 202  # the wrapper's shape is fine; one timeslot is not
    delivery = DispatchDelivery.objects.get()
    assert delivery.status == "processed"
    assert (delivery.summary["created"], delivery.summary["invalid"]) == (1, 1)
    assert "priority" in delivery.error
    assert list(DispatchTimeslot.objects.values_list("event_id", flat=True)) == [good]
    rejected = RejectedTimeslot.objects.get()
    assert (rejected.event_id, rejected.delivery, rejected.recipient_uuid) == (
        bad,
        delivery,
        meter.pk,
    )
    assert rejected.raw["priority"] == "high" and "priority" in rejected.errors[0]


def _stored(payload, received_at):
    """A delivery as the receiver would have stored it, received at the given time."""
    body = json.dumps(payload).encode()
    return DispatchDelivery.objects.create(
        level="meter",
        body=body,
        body_sha256=DispatchDelivery.hash_body(body),
        size=len(body),
        received_at=received_at,
    )


def test_waiting_deliveries_are_applied_together_each_with_its_own_outcome(make_meter):
    meter, event = make_meter(), uuid.uuid4()
    now = timezone.now()
    first = _stored(meter_notification((meter.pk, [slot(event, energy_kw=5.0)])), now)
    update = _stored(
        meter_notification((meter.pk, [slot(event, energy_kw=6.0)])), now + timedelta(seconds=1)
    )
    copy = _stored(
        meter_notification((meter.pk, [slot(event, energy_kw=5.0)])), now + timedelta(seconds=2)
    )
    broken = _stored(
        meter_notification((meter.pk, [slot(priority="high")])), now + timedelta(seconds=3)
    )

    inbox.process_delivery(update.pk)  # its task runs first; it takes the others along

    for d in (first, update, copy, broken):
        d.refresh_from_db()
    assert (first.status, first.summary) == ("processed", {"created": 1})
    assert (update.status, update.summary) == ("processed", {"updated": 1})
    # The first version again, after the update: applied (A -> B -> A).
    assert (copy.status, copy.summary) == ("processed", {"updated": 1})
    assert broken.status == "processed" and "priority" in broken.error
    assert broken.summary["invalid"] == 1
    ts = DispatchTimeslot.objects.get(event_id=event)
    assert ts.energy_kw == 5.0 and ts.version == 3
    assert list(ts.versions.order_by("version").values_list("delivery", flat=True)) == [
        first.pk,
        update.pk,
        copy.pk,
    ]
    # The other tasks find their deliveries done and do nothing.
    assert inbox.process_delivery(first.pk).status == "processed"
    assert DispatchTimeslotVersion.objects.count() == 3


def test_a_failing_batch_falls_back_to_the_tasks_own_delivery(make_meter, monkeypatch, settings):
    meter = make_meter()
    own = _stored(meter_notification((meter.pk, [slot()])), timezone.now())
    _stored(meter_notification((meter.pk, [slot()])), timezone.now())
    calls = []
    real = inbox._process

    def flaky(delivery_id, size):
        calls.append(size)
        if size > 1:
            raise RuntimeError("a neighbour broke the batch")
        return real(delivery_id, size)

    monkeypatch.setattr(inbox, "_process", flaky)
    assert inbox.process_delivery(own.pk).status == "processed"
    assert calls == [settings.DISPATCH_PROCESS_BATCH, 1]
    assert DispatchDelivery.objects.filter(status="received").count() == 1
