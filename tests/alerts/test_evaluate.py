"""The evaluation pass raises an alert for each cause the issue lists and resolves it when it goes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from alerts import evaluate
from alerts.models import Alert, AlertChange
from dispatch.models import DispatchAllocation, DispatchDelivery, ReconcileRun
from leapportal.models import WebhookAuthFailure
from mapping.models import MeterMapping
from meters.models import Meter, SyncRun, WebhookDelivery
from ops import workflow
from tests.dashboard.factories import make_action, make_group, make_meter, make_timeslot

pytestmark = pytest.mark.django_db


def live(kind: str) -> list[Alert]:
    return list(Alert.objects.filter(kind=kind, resolved_at__isnull=True).order_by("id"))


def fresh_runs(now: datetime) -> None:
    """A good meter sync and reconcile just now (so only the causes a test makes are raised)."""
    SyncRun.objects.create(kind="full", status="done", started_at=now, finished_at=now)
    ReconcileRun.objects.create(
        status="done", started_at=now, finished_at=now, window_start=now, window_end=now
    )


def test_an_action_moves_from_new_to_7_days_to_1_day_to_overdue_and_resolves(make_user):
    now = timezone.now()
    fresh_runs(now)
    meter = make_meter(partner_reference="site-a")
    action = make_action(meter, deadline=now + timedelta(days=5))

    result = evaluate.evaluate(now)
    assert result.raised == 2 and result.causes == {"new_action": 1, "deadline_7d": 1}
    new = live("new_action")[0]
    assert new.action_id == action.pk and new.meter_id == meter.pk and "site-a" in new.title
    assert new.changes.get().to_status == "open" and new.changes.get().by is None

    # Someone works it: no longer "new"; still due within 7 days.
    workflow.update_work_item(action, actor=make_user("operator"), state="contacted")
    evaluate.evaluate(now)
    assert live("new_action") == [] and len(live("deadline_7d")) == 1
    assert Alert.objects.get(pk=new.pk).status == "resolved"

    later = now + timedelta(days=4, hours=12)  # within a day of the deadline
    evaluate.evaluate(later)
    assert live("deadline_7d") == [] and live("deadline_1d")[0].severity == "critical"
    evaluate.evaluate(now + timedelta(days=6))
    assert live("deadline_1d") == [] and live("overdue")[0].title.startswith("Overdue: AUTH_0001")

    # Leap clears the action: the alert resolves, recorded as the system's change.
    action.resolved_at = now + timedelta(days=6)
    action.save()
    result = evaluate.evaluate(now + timedelta(days=6))
    assert result.resolved == 1 and live("overdue") == []
    change = AlertChange.objects.filter(to_status="resolved").latest("id")
    assert change.from_status == "open" and change.note == "cause gone" and change.by is None


def test_a_second_pass_over_the_same_data_changes_nothing():
    now = timezone.now()
    meter = make_meter()
    make_action(meter, deadline=now + timedelta(hours=3))
    first = evaluate.evaluate(now)
    assert first.raised >= 2
    changes = AlertChange.objects.count()
    second = evaluate.evaluate(now)
    assert (second.raised, second.resolved, second.refreshed) == (0, 0, 0)
    assert AlertChange.objects.count() == changes


def test_an_action_marked_done_or_on_a_missing_meter_raises_no_deadline_alert(make_user):
    now = timezone.now()
    done = make_action(make_meter(), deadline=now + timedelta(hours=2))
    workflow.update_work_item(done, actor=make_user("operator"), state="done")
    make_action(make_meter(missing_since=now), deadline=now + timedelta(hours=2))
    make_action(make_meter(), deadline=now + timedelta(days=30))  # far away
    make_action(make_meter(), side="leap", code="LEAP_1", deadline=now)  # Leap's to do
    evaluate.evaluate(now)
    assert live("deadline_1d") == [] and live("deadline_7d") == [] and live("overdue") == []


def test_a_missing_meter_alerts_until_it_returns():
    now = timezone.now()
    meter = make_meter(partner_reference="gone-1", missing_since=now - timedelta(hours=1))
    evaluate.evaluate(now)
    (alert,) = live("meter_missing")
    assert alert.meter_id == meter.pk and "gone-1 went missing" in alert.title
    Meter.objects.filter(pk=meter.pk).update(missing_since=None)
    evaluate.evaluate(now)
    assert live("meter_missing") == []


def test_a_dispatch_for_an_unknown_meter_alerts_until_the_meter_arrives():
    now = timezone.now()
    unknown = uuid.uuid4()
    ts = make_timeslot(meter=None, meter_uuid=unknown, start_time=now + timedelta(hours=2))
    DispatchAllocation.objects.create(timeslot=ts, meter=None, meter_uuid=unknown,
                                      flags=["unknown_meter"])  # fmt: skip
    evaluate.evaluate(now)
    (alert,) = live("unknown_meter")
    assert alert.meter_id == unknown and alert.details == {"events": 1}
    assert str(unknown) in alert.title

    meter = make_meter(meter_id=unknown)
    type(ts).objects.filter(pk=ts.pk).update(meter=meter)
    DispatchAllocation.objects.filter(timeslot=ts).update(meter=meter, flags=[])
    evaluate.evaluate(now)
    assert live("unknown_meter") == []


def test_a_cancelled_or_ended_event_for_an_unknown_meter_raises_nothing():
    now = timezone.now()
    make_timeslot(meter=None, start_time=now + timedelta(hours=1), cancelled=True)
    make_timeslot(meter=None, start_time=now - timedelta(hours=3))  # ended two hours ago
    evaluate.evaluate(now)
    assert live("unknown_meter") == []


def test_a_group_dispatch_soon_with_unready_members_alerts_until_they_are_ready():
    now = timezone.now()
    group = make_group("PGSB_ALERT")
    ready, pending = make_meter(), make_meter(global_enrollment_status="PENDING")
    unmapped = make_meter()
    for m in (ready, pending):
        MeterMapping.objects.create(meter=m, customer_id=f"c-{m.partner_reference}")
    ts = make_timeslot(level="group", meter=None, meter_uuid=None, market_group=group,
                       market_group_uuid=group.pk, start_time=now + timedelta(hours=3))  # fmt: skip
    for m in (ready, pending, unmapped):
        DispatchAllocation.objects.create(timeslot=ts, meter=m, meter_uuid=m.pk)
    far = make_timeslot(level="group", meter=None, meter_uuid=None, market_group=group,
                        market_group_uuid=group.pk, start_time=now + timedelta(days=2))  # fmt: skip
    DispatchAllocation.objects.create(timeslot=far, meter=pending, meter_uuid=pending.pk)

    evaluate.evaluate(now)
    (alert,) = live("dispatch_unready")
    assert alert.timeslot_id == ts.pk and alert.due_at == ts.start_time
    assert alert.title == "2 of 3 members not ready for the dispatch of PGSB_ALERT"
    assert alert.details["not_active"] == 1 and alert.details["unmapped"] == 1

    Meter.objects.filter(pk=pending.pk).update(global_enrollment_status="ACTIVE")
    evaluate.evaluate(now)
    (alert,) = live("dispatch_unready")
    assert alert.title.startswith("1 of 3") and alert.changes.count() == 1  # refreshed, not raised
    MeterMapping.objects.create(meter=unmapped, customer_id="c-late")
    evaluate.evaluate(now)
    assert live("dispatch_unready") == []


def test_a_failed_sync_a_held_sync_and_stale_data_alert_and_clear():
    now = timezone.now()
    evaluate.evaluate(now)  # nothing ever ran
    assert [a.key for a in live("sync_problem")] == ["meter-sync-stale"]
    assert live("reconcile_problem") == []  # no reconcile yet: nothing to call stale

    SyncRun.objects.create(kind="incremental", status="failed", error="Leap answered 503",
                           started_at=now, finished_at=now)  # fmt: skip
    ReconcileRun.objects.create(status="failed", error="timeout", started_at=now,
                                finished_at=now, window_start=now, window_end=now)  # fmt: skip
    evaluate.evaluate(now)
    keys = {a.key: a for a in live("sync_problem")}
    assert set(keys) == {"meter-sync-failed", "meter-sync-stale"}
    assert "Leap answered 503" in keys["meter-sync-failed"].title
    assert [a.key for a in live("reconcile_problem")] == ["reconcile-failed"]

    later = now + timedelta(minutes=1)
    SyncRun.objects.create(kind="full", status="held", held_meter_ids=["x"] * 7,
                           started_at=later, finished_at=later)  # fmt: skip
    ReconcileRun.objects.create(status="done", started_at=later, finished_at=later,
                                window_start=later, window_end=later)  # fmt: skip
    evaluate.evaluate(later)
    assert [a.key for a in live("sync_problem")] == ["meter-sync-held"]
    assert "7 meters missing" in live("sync_problem")[0].title
    assert live("reconcile_problem") == []

    much_later = later + timedelta(hours=2)
    SyncRun.objects.filter(status="held").update(status="done")
    evaluate.evaluate(much_later)
    assert [a.key for a in live("sync_problem")] == ["meter-sync-stale"]
    assert [a.key for a in live("reconcile_problem")] == ["reconcile-stale"]


def test_a_spike_of_refused_webhook_requests_alerts_and_clears(settings):
    settings.ALERTS_WEBHOOK_SPIKE_COUNT = 5
    settings.ALERTS_WEBHOOK_SPIKE_MINUTES = 10
    now = timezone.now()
    for _ in range(5):
        WebhookDelivery.objects.create(status="unauthorized", received_at=now)
    for _ in range(3):
        DispatchDelivery.objects.create(level="meter", status="rejected", body=b"x",
                                        body_sha256="x", received_at=now)  # fmt: skip
    WebhookAuthFailure.objects.create(day=now.date(), level="meter", count=100)
    evaluate.evaluate(now)  # the first sample of the daily counters is the baseline
    assert [a.key for a in live("webhook_spike")] == ["webhooks-meter"]
    assert live("webhook_spike")[0].details == {"refused": 5, "minutes": 10}

    WebhookAuthFailure.objects.filter(day=now.date()).update(count=104)
    evaluate.evaluate(now + timedelta(minutes=1))  # 3 rejected + 4 refused for their secret
    assert {a.key for a in live("webhook_spike")} == {"webhooks-meter", "webhooks-dispatch"}

    quiet = now + timedelta(minutes=25)
    evaluate.evaluate(quiet)
    assert live("webhook_spike") == []


def test_people_acknowledge_snooze_and_reopen_and_each_change_is_recorded(make_user):
    now = timezone.now()
    make_action(make_meter(), deadline=now + timedelta(hours=5))
    evaluate.evaluate(now)
    alert = live("deadline_1d")[0]
    olga = make_user("operator", username="olga")

    assert evaluate.change_status(alert, "acknowledged", by=olga)
    assert not evaluate.change_status(alert, "acknowledged", by=olga)  # nothing to do
    until = timezone.now() + timedelta(hours=1)
    evaluate.change_status(alert, "snoozed", by=olga, until=until)
    with pytest.raises(ValueError, match="future"):
        evaluate.change_status(alert, "snoozed", by=olga, until=now - timedelta(hours=1))
    with pytest.raises(ValueError):
        evaluate.change_status(alert, "resolved", by=olga)

    evaluate.evaluate(until + timedelta(seconds=1))  # the snooze ends: open again
    alert.refresh_from_db()
    assert alert.status == "open" and alert.snoozed_until is None
    history = [(c.from_status, c.to_status, c.by.username if c.by else None)
               for c in alert.changes.order_by("id")]  # fmt: skip
    assert history == [
        ("", "open", None),
        ("open", "acknowledged", "olga"),
        ("acknowledged", "snoozed", "olga"),
        ("snoozed", "open", None),
    ]


def test_a_resolved_alert_cannot_be_changed_and_a_cause_that_returns_raises_a_new_one(make_user):
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    meter = make_meter(missing_since=now)
    evaluate.evaluate(now)
    first = live("meter_missing")[0]
    Meter.objects.filter(pk=meter.pk).update(missing_since=None)
    evaluate.evaluate(now)
    first.refresh_from_db()
    with pytest.raises(ValueError, match="resolved"):
        evaluate.change_status(first, "acknowledged", by=make_user("operator"))
    Meter.objects.filter(pk=meter.pk).update(missing_since=now)
    evaluate.evaluate(now)
    assert live("meter_missing")[0].pk != first.pk
