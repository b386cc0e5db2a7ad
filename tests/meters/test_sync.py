from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from leap.client import LeapClient
from meters.actions import approve_held_run
from meters.models import (
    Meter,
    MeterChange,
    MeterEvent,
    ParticipationPreference,
    ProgramEnrollment,
    ReasonCode,
    RequiredAction,
    SyncRun,
)


def leap_state(sim, meter_id):
    """What Leap says about one meter right now (details and enrollment JSON)."""
    state = sim.meter(str(meter_id))
    return state.detail_json(), state.enrollment_json()


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_a_first_full_sync_mirrors_the_portfolio(leap_sim, run_sync):
    run = run_sync("full")

    assert run.status == SyncRun.Status.DONE, run.error
    ids = {uuid.UUID(m) for m in leap_sim.meter_ids()}
    assert set(Meter.objects.values_list("meter_id", flat=True)) == ids
    assert (run.created, run.updated, run.unchanged, run.failed, run.missing) == (40, 0, 0, 0, 0)
    for meter_id in list(ids)[:10]:
        detail, enrollment = leap_state(leap_sim, meter_id)
        meter = Meter.objects.get(pk=meter_id)
        assert meter.details_raw == detail
        assert meter.enrollment_raw == enrollment
        assert meter.partner_reference == detail.get("partner_reference")
        assert meter.transmission_region == detail["transmission_region"]
        assert meter.end_customer_name == detail["customer"].get("end_customer_name")
        assert meter.global_enrollment_status == enrollment["global_enrollment_status"]
        partner = enrollment["required_actions"].get("partner", [])
        assert meter.action_required is bool(partner)
        assert meter.program_enrollments.count() == len(enrollment["program_enrollment"])
        assert meter.required_actions.filter(resolved_at__isnull=True).count() == len(
            partner
        ) + len(enrollment["required_actions"].get("leap", []))
        assert meter.participation_preferences.count() == len(
            enrollment.get("participation_preferences", [])
        )
    # The first import is history's starting point: no changes and no notices.
    assert not MeterChange.objects.exists()
    assert not MeterEvent.objects.exclude(kind=MeterEvent.Kind.GROUP_CHANGING).exists()


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_an_unchanged_rerun_writes_no_row(leap_sim, run_sync, portfolio_writes):
    run_sync("full")
    before = (
        Meter.objects.count(),
        ProgramEnrollment.objects.count(),
        RequiredAction.objects.count(),
        ParticipationPreference.objects.count(),
    )
    with portfolio_writes() as writes:
        again = run_sync("full")

    assert again.status == SyncRun.Status.DONE, again.error
    assert (again.created, again.updated, again.unchanged, again.missing) == (0, 0, 40, 0)
    assert writes.tables == []
    assert before == (
        Meter.objects.count(),
        ProgramEnrollment.objects.count(),
        RequiredAction.objects.count(),
        ParticipationPreference.objects.count(),
    )


def _meter_where(sim, predicate):
    """The first simulator meter whose state satisfies predicate."""
    for meter_id in sim.meter_ids():
        state = sim.meter(meter_id)
        if predicate(state):
            return meter_id
    raise AssertionError("no simulator meter fits the test")


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_an_incremental_sync_takes_what_changed_since_the_last_run(leap_sim, run_sync):
    run_sync("full")
    meter_id = _meter_where(leap_sim, lambda s: s.global_status != "ACTIVE" and not s.is_archived)
    old_status = Meter.objects.get(pk=meter_id).global_enrollment_status
    leap_sim.set_global_status(meter_id, "ACTIVE")
    searches_before = leap_sim.requests.count("POST /v2/meters/enrollments/search")

    run = run_sync("incremental")

    assert run.status == SyncRun.Status.DONE, run.error
    assert run.window_start is not None
    assert run.updated == 1 and run.created == 0
    assert leap_sim.requests.count("POST /v2/meters/enrollments/search") > searches_before
    meter = Meter.objects.get(pk=meter_id)
    assert meter.global_enrollment_status == "ACTIVE"
    change = MeterChange.objects.get(meter=meter, field="global_enrollment_status")
    assert (change.old, change.new, change.source, change.sync_run_id) == (
        old_status,
        "ACTIVE",
        "poll",
        run.pk,
    )
    assert MeterEvent.objects.filter(meter=meter, kind=MeterEvent.Kind.BECAME_ACTIVE).count() == 1
    # Only that meter was fetched again: the window is narrow, not the portfolio.
    assert run.progress_done < 40


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_a_new_meter_arrives_through_the_created_window(leap_sim, run_sync):
    run_sync("full")
    state = leap_sim.add_meter(region="CAISO", partner_reference="NEW-CUSTOMER-1")

    run = run_sync("incremental")

    meter = Meter.objects.get(pk=state.meter_id)
    assert run.created == 1
    assert meter.partner_reference == "NEW-CUSTOMER-1"
    assert meter.global_enrollment_status == "PENDING"
    assert MeterEvent.objects.filter(meter=meter, kind=MeterEvent.Kind.NEW_METER).count() == 1


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_partner_actions_open_and_resolve(leap_sim, run_sync):
    run_sync("full")
    meter_id = _meter_where(
        leap_sim, lambda s: not s.partner_actions and s.programs and not s.is_archived
    )
    action = leap_sim.open_action(meter_id, "MRKT_0002", side="partner")
    run_sync("incremental")

    meter = Meter.objects.get(pk=meter_id)
    opened = RequiredAction.objects.get(meter=meter, code="MRKT_0002")
    assert meter.action_required and meter.open_partner_actions == 1
    assert opened.side == "partner" and opened.resolved_at is None
    assert opened.description == action["action_description"]
    event = MeterEvent.objects.get(meter=meter, kind=MeterEvent.Kind.ACTION_OPENED)
    assert event.deadline == opened.deadline and event.deadline is not None
    assert event.details["code"] == "MRKT_0002"

    leap_sim.resolve_action(meter_id, "MRKT_0002")
    run_sync("incremental")

    meter.refresh_from_db()
    opened.refresh_from_db()
    assert not meter.action_required
    assert opened.resolved_at is not None
    assert MeterEvent.objects.filter(meter=meter, kind=MeterEvent.Kind.ACTION_RESOLVED).count() == 1
    fields = list(MeterChange.objects.filter(meter=meter).values_list("field", flat=True))
    assert "action_required" in fields
    assert any(f.startswith("action.partner.MRKT_0002") for f in fields)


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_a_code_never_seen_before_joins_the_catalogue_lacking_guidance(leap_sim, run_sync):
    run_sync("full")
    meter_id = _meter_where(leap_sim, lambda s: s.programs and not s.is_archived)
    leap_sim.open_action(meter_id, "GRID_0042", side="leap", description="Something new")
    run_sync("incremental")

    code = ReasonCode.objects.get(code="GRID_0042")
    assert code.needs_guidance and code.example_description == "Something new"
    assert code.who_acts == "leap"
    code.title, code.guidance = "Grid check", "Wait for Leap."
    code.save()
    code.refresh_from_db()
    assert not code.needs_guidance


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_archived_meters_are_kept_and_flagged(leap_sim, run_sync):
    run_sync("full")
    meter_id = _meter_where(leap_sim, lambda s: not s.is_archived)
    leap_sim.archive(meter_id)
    run_sync("full")

    meter = Meter.objects.get(pk=meter_id)
    assert meter.is_archived and meter.missing_since is None
    assert not Meter.objects.live().filter(pk=meter_id).exists()
    assert MeterEvent.objects.filter(meter=meter, kind=MeterEvent.Kind.ARCHIVED).count() == 1


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_a_meter_leap_no_longer_returns_is_marked_missing_never_deleted(leap_sim, run_sync):
    run_sync("full")
    gone = leap_sim.meter_ids()[3]
    leap_sim.remove_meter(gone)

    run = run_sync("full")

    assert run.status == SyncRun.Status.DONE and run.missing == 1
    meter = Meter.objects.get(pk=gone)
    assert meter.missing_since is not None
    assert Meter.objects.missing().count() == 1 and Meter.objects.count() == 40
    assert MeterEvent.objects.filter(meter=meter, kind=MeterEvent.Kind.WENT_MISSING).exists()
    assert MeterChange.objects.filter(meter=meter, field="missing_since").exists()
    # Missing once is enough: the next run marks nothing again.
    assert run_sync("full").missing == 0


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_a_missing_meter_that_comes_back_is_present_again(leap_sim, run_sync):
    run_sync("full")
    back = leap_sim.meter_ids()[5]
    Meter.objects.filter(pk=back).update(missing_since=timezone.now())

    run_sync("full")

    meter = Meter.objects.get(pk=back)
    assert meter.missing_since is None
    assert MeterEvent.objects.filter(meter=meter, kind=MeterEvent.Kind.RETURNED).count() == 1


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_a_mass_disappearance_is_held_until_an_admin_approves(leap_sim, run_sync, make_user):
    run_sync("full")
    gone = leap_sim.meter_ids()[:5]  # 12.5% of the portfolio, over the 5% limit
    for meter_id in gone:
        leap_sim.remove_meter(meter_id)

    held = run_sync("full")

    assert held.status == SyncRun.Status.HELD
    assert held.missing == 5 and sorted(held.held_meter_ids) == sorted(gone)
    assert "not marked missing until an admin approves" in held.error
    assert not Meter.objects.missing().exists()

    admin = make_user("admin", username="approver")
    approved = approve_held_run(held.pk, approved_by=admin)

    assert approved.status == SyncRun.Status.DONE
    assert approved.approved_by == admin and approved.missing == 5
    assert set(Meter.objects.missing().values_list("meter_id", flat=True)) == {
        uuid.UUID(m) for m in gone
    }


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_the_hold_fraction_is_a_setting(leap_sim, run_sync, settings):
    settings.METERS_MISSING_HOLD_FRACTION = 0.2
    run_sync("full")
    for meter_id in leap_sim.meter_ids()[:5]:
        leap_sim.remove_meter(meter_id)

    run = run_sync("full")

    assert run.status == SyncRun.Status.DONE and run.missing == 5


@pytest.mark.leap_sim(meters=40, changes_per_hour=0)
def test_unknown_fields_are_kept_raw_and_change_nothing_else(leap_sim, run_sync):
    run_sync("full")
    leap_sim.faults.add("extra_fields", times=100)

    run = run_sync("full")

    assert run.status == SyncRun.Status.DONE, run.error
    assert run.failed == 0
    # New fields in the raw payloads are stored; no flattened field changed, so no history.
    assert not MeterChange.objects.exists()
    raw = Meter.objects.first().details_raw
    assert set(raw) - {
        "meter_id",
        "partner_reference",
        "transmission_region",
        "customer_classification",
        "load_types",
        "meter_type",
        "connection_references",
        "customer_group",
        "tags",
        "is_archived",
        "customer",
        "device",
        "site",
        "utility",
        "caiso",
        "isone",
        "nyiso",
        "audit",
    }


@pytest.mark.leap_sim(meters=20, changes_per_hour=0)
def test_a_column_the_enrollment_leaves_out_keeps_what_the_details_said(
    leap_sim, run_sync, monkeypatch
):
    """On the first import too: the enrollment's missing fields are read back, not blanked."""
    original = LeapClient._page

    def without_reference(self, model, items, **page):
        if model.__name__ == "MeterEnrollment":
            for raw in items:  # as if Leap had left them out of every enrollment
                raw.pop("partner_reference", None)
                raw.pop("customer_group", None)
        return original(self, model, items, **page)

    monkeypatch.setattr(LeapClient, "_page", without_reference)
    run = run_sync("full")

    assert run.status == SyncRun.Status.DONE, run.error
    for meter_id in leap_sim.meter_ids()[:10]:
        detail, _ = leap_state(leap_sim, meter_id)
        meter = Meter.objects.get(pk=meter_id)
        assert meter.partner_reference == detail.get("partner_reference")
        assert meter.customer_group == (detail.get("customer_group") or None)  # "" is none
    assert Meter.objects.exclude(partner_reference=None).exists()
