"""Submitting to Leap (the simulator): batches within Leap's limits, outcomes per asset, no
duplicate when an answer is lost, Leap's 400 line by line, a job Leap cannot answer about kept."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from leap import create_meters as cm
from onboarding import follow, jobs
from onboarding.models import Asset, Batch, Draft, DraftRow, Job
from tests.onboarding.helpers import assert_funnel_sums_fresh, csv_bytes, row, upload

pytestmark = pytest.mark.django_db(transaction=True)

JOB_PATH = "GET /v1.1/jobs/meters/{job_id}"


def submit(client, rows, **scope):
    response = upload(client, csv_bytes(rows), **scope)
    assert response.status_code == 302, response.content.decode()[:2000]
    draft = Draft.objects.latest("pk")
    response = client.post(f"/onboarding/drafts/{draft.pk}/submit")
    assert response.status_code == 302
    return Job.objects.get(draft=draft)


def poll_round(now=None):
    """One beat tick, as if the interval had passed for every open batch."""
    Batch.objects.filter(next_poll_at__isnull=False).update(next_poll_at=timezone.now())
    return jobs.poll_due(now=now)


@pytest.mark.leap_sim(changes_per_hour=0)
def test_a_file_goes_in_batches_and_each_asset_gets_leaps_outcome(
    operator_client, leap_sim, settings
):
    settings.ONBOARDING_BATCH_SIZE = 2
    existing = leap_sim.find_meters(lambda s: bool(s.partner_reference), 1)[0].partner_reference
    rows = [
        row(1),
        row(2, **{"customer.postal_code": "00501"}),  # no such address in CA
        row(3, **{"customer.state_or_province_code": "TX"}),  # not served in CAISO
        row(4, partner_reference=existing),  # another meter holds it: DUPLICATE
        row(5),
    ]
    job = submit(operator_client, rows)
    # Sent at once (eager here), as 3 Leap jobs of at most 2 assets, each asset PROCESSING.
    batches = list(job.batches.order_by("number"))
    assert [b.size for b in batches] == [2, 2, 1]
    assert all(b.status == "processing" and b.leap_job_id for b in batches)
    assert leap_sim.requests.count("POST /v1.1/jobs/meters") == 3
    assert {a.status for a in job.assets.all()} == {"PROCESSING"}
    assert all(j.file_name == b.file_name for j, b in zip(
        [leap_sim.jobs.jobs[str(b.leap_job_id)] for b in batches], batches, strict=True))  # fmt: skip

    assert poll_round()["polled"] == 3  # Leap still processing: one read per job
    job.refresh_from_db()
    assert job.status == "processing"
    leap_sim.advance(minutes=1)
    assert poll_round()["polled"] == 3
    job.refresh_from_db()
    assert job.status == "done_with_errors" and job.finished_at
    outcome = {a.line: a for a in job.assets.all()}
    assert outcome[2].status == "COMPLETED" and outcome[2].detail_name == "METER_CREATED"
    assert outcome[2].stage == "created" and outcome[2].meter_id
    assert (outcome[3].status, outcome[3].detail_name) == ("FAILED", "ADDRESS_NOT_FOUND")
    assert outcome[3].failed_fields == {"customer.postal_code": "address not found"}
    assert outcome[4].detail_name == "UNSUPPORTED_ADDRESS"
    assert outcome[5].status == "DUPLICATE"
    # The simulator's portfolio has the new meters, and meter.created went out for each.
    created = leap_sim.meter(str(outcome[2].meter_id))
    assert created.partner_reference == "onb-00001"
    assert leap_sim.requests.count(JOB_PATH) == 6
    # Finished jobs are not read again.
    assert poll_round() == {"polled": 0, "sent": 0, "failed": 0, "deferred": 0}

    page = operator_client.get(f"/onboarding/jobs/{job.pk}/").content.decode()
    assert "Leap could not find this address" in page and "<mark><code>customer.postal_code" in page
    assert "Another meter already has this partner reference" in page
    assert "Fix and resubmit the 3 failed assets" in page
    assert 'hx-trigger="every 3s"' not in page  # finished: the page stops polling


@pytest.mark.leap_sim(changes_per_hour=0)
def test_a_job_whose_status_cannot_be_read_is_retried_and_shown_never_lost(
    operator_client, leap_sim
):
    job = submit(operator_client, [row(1), row(2)])
    leap_sim.advance(minutes=1)
    leap_sim.faults.add("500", times=50, path="/v1.1/jobs/meters/", method="GET")
    outcome = poll_round()
    assert outcome["failed"] == 1
    batch = job.batches.get()
    assert batch.status == "processing" and batch.poll_failures == 1
    assert "500" in batch.last_error and batch.next_poll_at > timezone.now()
    page = operator_client.get(f"/onboarding/jobs/{job.pk}/").content.decode()
    assert "status unreadable 1 time in a row" in page and 'hx-trigger="every 3s"' in page
    health = operator_client.get("/meters/sync/").content.decode()
    assert (
        "1 open create-meters job being followed" in health and "1 failed read in a row" in health
    )
    poll_round()
    assert job.batches.get().poll_failures == 2
    leap_sim.faults.clear()
    poll_round()
    batch.refresh_from_db()
    job.refresh_from_db()
    assert batch.status == "completed" and batch.poll_failures == 0 and not batch.last_error
    assert job.status == "done" and job.assets.filter(status="COMPLETED").count() == 2


@pytest.mark.leap_sim(changes_per_hour=0)
def test_a_send_whose_answer_was_lost_is_found_at_leap_not_sent_twice(operator_client, leap_sim):
    # Leap takes the job, but the answer is torn on the way back: the client cannot know.
    leap_sim.faults.add("torn", path="/v1.1/jobs/meters", method="POST")
    job = submit(operator_client, [row(1), row(2)])
    batch = job.batches.get()
    assert batch.status == "unsure" and "sending" in batch.last_error
    assert len(leap_sim.jobs.jobs) == 1
    page = operator_client.get(f"/onboarding/jobs/{job.pk}/").content.decode()
    assert "Leap is asked for this file name before anything is sent again" in page

    assert poll_round()["sent"] == 1  # the next round asks Leap first, and adopts its job
    batch.refresh_from_db()
    assert batch.status == "processing" and str(batch.leap_job_id) in leap_sim.jobs.jobs
    assert len(leap_sim.jobs.jobs) == 1 and leap_sim.requests.count("POST /v1.1/jobs/meters") == 1
    leap_sim.advance(minutes=1)
    poll_round()
    assert Asset.objects.filter(status="COMPLETED").count() == 2


@pytest.mark.leap_sim(changes_per_hour=0)
def test_a_send_that_never_reached_leap_is_sent_again_later(operator_client, leap_sim):
    leap_sim.faults.add("drop", path="/v1.1/jobs/meters", method="POST")
    job = submit(operator_client, [row(1)])
    batch = job.batches.get()
    assert batch.status in ("unsure", "pending") and not leap_sim.jobs.jobs
    poll_round()
    batch.refresh_from_db()
    assert batch.status == "processing" and len(leap_sim.jobs.jobs) == 1


@pytest.mark.leap_sim(changes_per_hour=0)
def test_leaps_400_is_shown_line_by_line(operator_client, leap_sim, make_user):
    # What the dry run lets through but Leap refuses (here: rows edited past the dry run).
    user = make_user("admin", username="ada")
    draft = Draft.objects.create(source="csv", filename="x.csv", region="CAISO", meter_type="DEVICE",
                                 counts={"ok": 3})  # fmt: skip
    good = row(1)

    def asset(values):
        out = {"transmission_region": "CAISO", "meter_type": "DEVICE"}
        for path, text in values.items():
            if path in cm.BY_PATH and text:
                cm.set_path(out, path, cm.parse_text(cm.BY_PATH[path], text)[0])
        out["customer"]["country_code"] = "US"
        return out

    bad = asset(row(2))
    bad["load_types"] = []
    worse = asset(row(3))
    del worse["customer"]["city"]
    for line, payload in ((2, asset(good)), (3, bad), (4, worse)):
        DraftRow.objects.create(draft=draft, line=line, verdict="ok", asset=payload,
                                partner_reference=payload["partner_reference"])  # fmt: skip
    job = jobs.submit_draft(draft, user=user)
    batch = job.batches.get()
    assert batch.status == "rejected" and len(batch.rejection) == 2
    job.refresh_from_db()
    assert job.status == "failed"
    by_line = {a.line: a for a in job.assets.all()}
    assert by_line[3].failed_fields == {"load_types": "Missing required parameter"}
    assert by_line[4].failed_fields == {"customer.city": "Missing required parameter"}
    assert "because of other assets" in by_line[2].detail_description
    page = operator_client.get(f"/onboarding/jobs/{job.pk}/").content.decode()
    assert "asset 1: <code>load_types</code> Missing required parameter" in page
    assert "asset 2: <code>customer.city</code> Missing required parameter" in page


@pytest.mark.leap_sim(changes_per_hour=0)
def test_fix_and_resubmit_sends_only_the_failed_assets(operator_client, leap_sim):
    existing = leap_sim.find_meters(lambda s: bool(s.partner_reference), 1)[0]
    job = submit(
        operator_client,
        [row(1), row(2, **{"customer.postal_code": "00501"}),
         row(3, partner_reference=existing.partner_reference)],
    )  # fmt: skip
    leap_sim.advance(minutes=1)
    poll_round()
    failed = {a.line: a for a in job.assets.filter(status__in=Asset.FAILED_STATUSES)}
    assert set(failed) == {3, 4}
    form = operator_client.get(f"/onboarding/jobs/{job.pk}/fix").content.decode()
    assert f'name="a{failed[3].pk}-customer.postal_code" value="00501"' in form
    assert 'aria-invalid="true"' in form

    response = operator_client.post(
        f"/onboarding/jobs/{job.pk}/fix",
        {
            f"a{failed[3].pk}-customer.postal_code": "94107",
            f"a{failed[3].pk}-customer.street_1": "2 Market St",
            f"a{failed[3].pk}-customer.city": "San Francisco",
            f"a{failed[3].pk}-customer.state_or_province_code": "CA",
            f"a{failed[4].pk}-partner_reference": existing.partner_reference,
            "update_existing": "1",  # that meter is this asset: update it
        },
    )
    assert response.status_code == 302
    draft = Draft.objects.get(parent_job=job)
    assert draft.counts["lines"] == 2 and draft.counts["error"] == 0 and draft.update_existing
    operator_client.post(f"/onboarding/drafts/{draft.pk}/submit", {"update_existing": "on"})
    second = Job.objects.get(draft=draft)
    assert second.parent == job and second.assets.count() == 2
    assert leap_sim.requests.count("POST /v1.1/jobs/meters") == 2
    leap_sim.advance(minutes=1)
    poll_round()
    outcome = {a.line: a for a in second.assets.all()}
    assert outcome[3].detail_name == "METER_CREATED"
    assert (
        outcome[4].detail_name == "METER_UPDATED" and str(outcome[4].meter_id) == existing.meter_id
    )
    assert set(job.assets.filter(resubmitted_in=second).values_list("line", flat=True)) == {3, 4}
    # Nothing left to fix on the first job; no meter was created twice at Leap.
    assert (
        "Fix and resubmit"
        not in operator_client.get(f"/onboarding/jobs/{job.pk}/").content.decode()
    )
    refs = [a.data["partner_reference"] for j in leap_sim.jobs.jobs.values() for a in j.assets
            if a.detail.get("name") == "METER_CREATED"]  # fmt: skip
    assert len(refs) == len(set(refs)) == 2
    # The first job's failed assets, resubmitted, no longer count as failed in its funnel row.
    rows = {r["key"]: r for r in follow.funnel(timezone.now())["jobs"]}
    assert (rows[job.pk]["failed"], rows[second.pk]["created"]) == (0, 2)
    assert_funnel_sums_fresh()


def test_resubmitting_a_reference_still_processing_is_refused(operator_client, make_user):
    user = make_user("admin", username="ada")
    draft = Draft.objects.create(
        source="csv", filename="x.csv", region="CAISO", meter_type="DEVICE"
    )
    job = Job.objects.create(draft=draft, submitted_by=user, submitted_by_name="ada")
    batch = Batch.objects.create(job=job, number=1, file_name="f.json")
    Asset.objects.create(job=job, batch=batch, line=2, position=0, partner_reference="onb-00001",
                         status="PROCESSING")  # fmt: skip
    upload(operator_client, csv_bytes([row(1)]))
    r = Draft.objects.latest("pk").rows.get()
    assert r.verdict == "error"
    assert (
        f"onboarding job #{job.pk}, which Leap is still processing"
        in dict(r.problems)["partner_reference"]
    )


def test_one_poll_per_open_job_per_interval_even_when_rounds_overlap(make_user, leap_sim, settings):
    """Two beat rounds in the same interval: each open job is read once, not per asset."""
    user = make_user("admin", username="ada")
    now = timezone.now()
    for n in range(5):
        draft = Draft.objects.create(source="csv", filename=f"{n}.csv", region="CAISO",
                                     meter_type="DEVICE")  # fmt: skip
        job = Job.objects.create(draft=draft, submitted_by=user, submitted_by_name="ada")
        leap_job = leap_sim.jobs.create(
            [{"partner_reference": f"p-{n}-{i}"} for i in range(20)], update_existing=False,
            file_name=f"{n}.json")  # fmt: skip
        batch = Batch.objects.create(job=job, number=1, file_name=f"{n}.json", status="processing",
                                     leap_job_id=uuid.UUID(leap_job.job_id), next_poll_at=now)  # fmt: skip
        Asset.objects.bulk_create(
            Asset(job=job, batch=batch, line=i + 2, position=i, partner_reference=f"p-{n}-{i}",
                  status="PROCESSING") for i in range(20))  # fmt: skip
    assert jobs.poll_due(now=now)["polled"] == 5
    assert jobs.poll_due(now=now + timedelta(seconds=1))["polled"] == 0
    assert leap_sim.requests.count(JOB_PATH) == 5
    later = now + timedelta(seconds=settings.ONBOARDING_POLL_SECONDS + 1)
    assert jobs.poll_due(now=later)["polled"] == 5
    assert leap_sim.requests.count(JOB_PATH) == 10
