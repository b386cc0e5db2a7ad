"""The funnel per program: a meter onboarded for two programs is followed in each from its own
enrollment status (Leap's per-program status), never from the global one (the best of them)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from meters.models import Meter, ProgramEnrollment
from onboarding import follow, jobs
from onboarding.models import Asset, Batch, Draft, Job, ProgramStep

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def created_asset(programs, meter_status, created_at, n=1):
    """An asset Leap created at `created_at` for `programs`, its meter synced."""
    draft = Draft.objects.create(source="csv", filename=f"f{n}.csv", region="CAISO",
                                 meter_type="DEVICE", status="submitted", programs=programs)  # fmt: skip
    job = Job.objects.create(draft=draft, submitted_by_name="olga", programs=programs,
                             status="done", submitted_at=created_at - DAY)  # fmt: skip
    batch = Batch.objects.create(job=job, number=1, file_name=f"f-{n}.json", status="completed")
    meter = Meter.objects.create(meter_id=uuid.uuid4(), global_enrollment_status=meter_status)
    asset = Asset.objects.create(
        job=job, batch=batch, line=2, position=0, partner_reference=f"onb-{n}",
        programs=programs, status="COMPLETED", meter_id=meter.pk, stage="created",
        stage_since=created_at, submitted_at=created_at - DAY, created_at=created_at,
    )  # fmt: skip
    jobs._start_steps([asset], created_at)
    follow.refresh_funnel([job.pk])  # as jobs.refresh_job does after outcomes
    return asset, meter


def enroll(meter, program, status, period="2026"):
    ProgramEnrollment.objects.update_or_create(
        meter=meter,
        program_identifier=program,
        delivery_period=f"{program}_{period}",
        defaults={"enrollment_status": status},
    )


def row_of(rows, key):
    return next(r for r in rows if r["key"] == key)


def test_a_meter_active_in_one_program_and_pending_in_the_other_counts_in_each_step(settings):
    settings.ONBOARDING_STUCK_DAYS = 10
    now = timezone.now()
    t0 = now - 30 * DAY
    asset, meter = created_asset(["CEC-DSGS", "ELRP"], "PENDING", t0)
    assert sorted(asset.steps.values_list("program", "stage")) == [
        ("CEC-DSGS", "created"), ("ELRP", "created"),
    ]  # fmt: skip

    # Leap: ACTIVE in ELRP, PENDING in CEC-DSGS (with a required action); globally ACTIVE.
    Meter.objects.filter(pk=meter.pk).update(global_enrollment_status="ACTIVE")
    enroll(meter, "ELRP", "ACTIVE")
    enroll(meter, "CEC-DSGS", "PENDING")
    t1 = now - 20 * DAY
    assert follow.stamp_steps(t1) == 1
    elrp = asset.steps.get(program="ELRP")
    cec = asset.steps.get(program="CEC-DSGS")
    assert (elrp.stage, elrp.eligible_at, elrp.active_at) == ("active", t1, t1)
    assert (cec.stage, cec.eligible_at, cec.active_at) == ("created", None, None)
    asset.refresh_from_db()
    # The asset is as far as its slowest program, waiting since it was created.
    assert (asset.stage, asset.stage_since, asset.active_at) == ("created", t0, None)

    data = follow.funnel(now)
    e, c = row_of(data["programs"], "ELRP"), row_of(data["programs"], "CEC-DSGS")
    assert (e["created"], e["eligible"], e["active"], e["stuck"]) == (1, 1, 1, 0)
    assert (c["created"], c["eligible"], c["active"], c["stuck"]) == (1, 0, 0, 1)
    assert e["days_to_eligible"] == pytest.approx(10) and e["days_to_active"] == 0
    assert e["days_waiting"] is None and c["days_waiting"] == pytest.approx(30)
    assert c["days_to_eligible"] is None
    assert (data["total"]["active"], data["total"]["eligible"], data["total"]["stuck"]) == (0, 0, 1)
    assert data["jobs"][0]["active"] == 0 and data["jobs"][0]["created"] == 1
    # The stuck lane, per program, matches the funnel's per-program stuck counts.
    assert follow.stuck_assets(now, "CEC-DSGS").count() == 1
    assert follow.stuck_assets(now, "ELRP").count() == 0
    assert list(follow.stuck_assets(now)) == [asset]

    # CEC-DSGS: ELIGIBLE in its next period (the best of its periods), later ACTIVE.
    t2 = now - 12 * DAY
    enroll(meter, "CEC-DSGS", "ELIGIBLE", period="2027")
    assert follow.stamp_steps(t2) == 1
    asset.refresh_from_db()
    assert (asset.stage, asset.eligible_at, asset.stage_since) == ("eligible", t2, t2)
    assert follow.stuck_assets(now).count() == 1  # 12 days ELIGIBLE in CEC-DSGS
    t3 = now - 2 * DAY
    enroll(meter, "CEC-DSGS", "ACTIVE")
    assert follow.stamp_steps(t3) == 1
    assert follow.stamp_steps(now) == 0  # nothing moves twice
    asset.refresh_from_db()
    assert (asset.stage, asset.active_at) == ("active", t3)

    data = follow.funnel(now)
    e, c = row_of(data["programs"], "ELRP"), row_of(data["programs"], "CEC-DSGS")
    # Days spent in each step, per program.
    assert e["days_to_eligible"] == pytest.approx(10) and e["days_to_active"] == 0
    assert c["days_to_eligible"] == pytest.approx(18) and c["days_to_active"] == pytest.approx(10)
    assert c["days_to_create"] == e["days_to_create"] == pytest.approx(1)
    assert (c["active"], c["stuck"], e["active"]) == (1, 0, 1)
    total = data["total"]
    assert (total["active"], total["stuck"]) == (1, 0)
    assert total["days_to_eligible"] == pytest.approx(18)
    assert total["days_to_active"] == pytest.approx(10)
    assert not follow.stuck_assets(now).exists()


def test_a_program_the_meter_is_not_enrolled_in_keeps_it_at_created_there(settings):
    now = timezone.now()
    asset, meter = created_asset(["CEC-DSGS", "DRAM"], "ACTIVE", now - 3 * DAY)
    enroll(meter, "CEC-DSGS", "ACTIVE")
    enroll(meter, "ELRP", "ACTIVE")  # a program the job did not name counts nowhere
    assert follow.stamp_steps(now) == 1
    data = follow.funnel(now)
    assert row_of(data["programs"], "CEC-DSGS")["active"] == 1
    assert row_of(data["programs"], "DRAM")["active"] == 0
    assert [r["key"] for r in data["programs"]] == ["CEC-DSGS", "DRAM"]
    assert data["total"]["active"] == 0


def test_a_job_without_programs_follows_the_global_status(settings):
    now = timezone.now()
    asset, meter = created_asset([], "PENDING", now - 3 * DAY)
    enroll(meter, "ELRP", "ELIGIBLE")
    assert follow.stamp_steps(now) == 0
    Meter.objects.filter(pk=meter.pk).update(global_enrollment_status="ELIGIBLE")
    assert follow.stamp_steps(now) == 1
    asset.refresh_from_db()
    assert asset.stage == "eligible"
    data = follow.funnel(now)
    assert [(r["key"], r["eligible"]) for r in data["programs"]] == [("(no program)", 1)]
    assert follow.stuck_assets(now, "(no program)").count() == 0
    assert ProgramStep.objects.get(asset=asset).program == ""


def test_the_funnel_and_the_stuck_lane_show_each_programs_step(client, make_user, settings):
    settings.ONBOARDING_STUCK_DAYS = 10
    now = timezone.now()
    asset, meter = created_asset(["CEC-DSGS", "ELRP"], "ACTIVE", now - 30 * DAY)
    enroll(meter, "ELRP", "ACTIVE")
    follow.stamp_steps(now - 20 * DAY)
    client.force_login(make_user("viewer"))
    funnel = client.get("/onboarding/funnel/").content.decode()
    assert 'href="/onboarding/stuck/?program=CEC-DSGS">1</a>' in funnel
    assert 'data-count="active">0<' in funnel
    lane = client.get("/onboarding/stuck/?program=CEC-DSGS").content.decode()
    assert "onb-1" in lane
    assert 'data-step="ELRP">ELRP: ACTIVE</div>' in lane
    assert 'data-step="CEC-DSGS">CEC-DSGS: Created, 30 d</div>' in lane
    assert "onb-1" not in client.get("/onboarding/stuck/?program=ELRP").content.decode()
