"""Benchmark: onboarding (create meters at Leap) at the sizes issue 19 names.

    [DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_bench_onboarding] \
        .venv/bin/python bench/onboarding.py [--rows 10000] [--jobs 100] [--meters 100000] [--runs 40]

1. Preview: a 10,000-asset CSV (and the same as XLSX) through the dry run, rows stored
   (target <= 10 s each).
2. Submit: the checked file sent through the real client to the in-process simulator; prints
   how many create-meters jobs and the largest one (must stay within Leap's limit).
3. Following: 100 open Leap jobs of 100 assets each; beat rounds at t, t+1 s (same interval) and
   t+interval; prints the job reads per round (target: one per open job per interval, 0 within
   the same interval) and the round's time, then the round that applies 10,000 outcomes.
4. Pages: 100,000 onboarded meters (assets and Meter rows, inserted in bulk): the funnel, the
   stuck lane, the action queue (which counts the stuck lane) and a 500-asset job page through
   Django's test client; p50/p95 ms (target p95 <= 150 ms).

A script, not a test: run it by hand (`flock /work/.bench.lock ...` on a shared machine) and copy
the output into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")  # the send runs in this process

HEADER = [
    "customer_id", "site_id", "partner_reference", "customer_classification", "load_types",
    "customer.street_1", "customer.postal_code", "customer.city",
    "customer.state_or_province_code", "device.device_type", "device.device_serial_number",
    "device.battery_power_capacity_kw", "device.battery_energy_capacity_kwh",
    "device.permission_to_operate_date", "site.number_of_devices", "customer.end_customer_email",
]  # fmt: skip


def setup_django() -> None:
    """Create the database if needed (bench/database.py), set Django up, migrate."""
    from bench.database import bench_database

    bench_database("lp_bench_onboarding")  # emptied by the benchmark: its name says bench
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def wipe() -> None:
    """Empty the tables this benchmark fills."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE onboarding_asset, onboarding_batch, onboarding_job, onboarding_draftrow, "
            "onboarding_draft, mapping_mappingchange, mapping_metermapping, meters_requiredaction, "
            "meters_meter CASCADE"
        )


def rows_of(n: int) -> list[list[str]]:
    """n CEC-DSGS battery assets; one line in fifty has an error (a bad postal code)."""
    out = []
    for i in range(n):
        postal = "9410" if i % 50 == 7 else "94103"
        out.append([
            f"cust-{i}", f"site-{i}", f"bench-{i:06d}", "RESIDENTIAL", "BATTERY_STORAGE",
            f"{i + 1} Market St", postal, "San Francisco", "CA", "BATTERY", f"SN{i:08d}",
            "5", "13.5", "2022-03-01", "1", f"owner{i}@example.com",
        ])  # fmt: skip
    return out


def csv_file(n: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows_of(n))
    return out.getvalue().encode()


def xlsx_file(n: int) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADER)
    for r in rows_of(n):
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def user():  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import Group, User

    u, _ = User.objects.get_or_create(username="bench-operator")
    u.groups.add(Group.objects.get(name="operator"))
    return u


def preview_and_submit(rows: int) -> None:
    from django.conf import settings

    import leap
    from leap.create_meters import MAX_JOB_ASSETS
    from leap.simulator import Simulator
    from onboarding import dryrun, jobs

    scope = {"region": "CAISO", "meter_type": "DEVICE", "programs": ["CEC-DSGS"]}
    results = {}
    for kind, build in (("csv", csv_file), ("xlsx", xlsx_file)):
        raw = build(rows)
        began = time.perf_counter()
        draft = dryrun.preview_upload(raw, filename=f"bench.{kind}", user=user(),
                                      max_rows=settings.ONBOARDING_MAX_ROWS, **scope)  # fmt: skip
        results[kind] = (time.perf_counter() - began, draft, len(raw))
        assert draft.status == "previewed", draft.file_error
    from onboarding import files

    raw = csv_file(rows)
    began = time.perf_counter()
    _, _, lines = files.read(raw, "floor.csv")
    parsed = sum(1 for _ in lines)
    floor = time.perf_counter() - began
    print(f"| floor: only decode and split the {parsed:,}-line CSV | {floor:.2f} s | - |")
    for kind, (seconds, draft, size) in results.items():
        flag = "" if seconds <= 10 else " **over 10 s**"
        print(f"| preview {rows:,}-asset {kind.upper()} ({size / 1e6:.1f} MB) | {seconds:.2f} s{flag} "
              f"| {draft.counts['ok']:,} ready, {draft.counts['error']:,} errors |")  # fmt: skip

    sim = Simulator(seed=19, meters=500, job_seconds=3600, changes_per_hour=0)
    draft = results["csv"][1]
    with leap.use_transport(sim.transport(), sleep=lambda s: None):
        began = time.perf_counter()
        job = jobs.submit_draft(draft, user=user())  # sends on commit (eager here)
        seconds = time.perf_counter() - began
    sizes = [len(j.assets) for j in sim.jobs.jobs.values()]
    job.refresh_from_db()
    within = max(sizes) <= MAX_JOB_ASSETS
    print(f"| submit {job.counts['assets']:,} assets | {seconds:.2f} s | {len(sizes)} Leap jobs "
          f"(ONBOARDING_BATCH_SIZE {settings.ONBOARDING_BATCH_SIZE}), largest {max(sizes)} "
          f"assets, limit {MAX_JOB_ASSETS}: {'within' if within else '**OVER**'} |")  # fmt: skip


def follow_open_jobs(n_jobs: int, per_job: int = 100) -> None:
    import uuid
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    import leap
    from leap.simulator import Simulator
    from onboarding import jobs
    from onboarding.models import Asset, Batch, Draft, Job

    wipe()
    sim = Simulator(seed=19, meters=500, job_seconds=3600, changes_per_hour=0)
    u = user()
    now = timezone.now()
    asset = {
        "transmission_region": "CAISO", "customer_classification": "RESIDENTIAL",
        "load_types": ["HVAC"], "meter_type": "DEVICE",
        "customer": {"street_1": "1 Market St", "postal_code": "94103", "city": "San Francisco",
                     "state_or_province_code": "CA", "country_code": "US"},
    }  # fmt: skip
    for n in range(n_jobs):
        payloads = [{**asset, "partner_reference": f"follow-{n}-{i}"} for i in range(per_job)]
        leap_job = sim.jobs.create(payloads, update_existing=False, file_name=f"f-{n}.json")
        draft = Draft.objects.create(source="csv", filename=f"f-{n}.csv", region="CAISO",
                                     meter_type="DEVICE", status="submitted")  # fmt: skip
        job = Job.objects.create(draft=draft, submitted_by=u, submitted_by_name=u.username,
                                 status="processing")  # fmt: skip
        batch = Batch.objects.create(job=job, number=1, file_name=f"f-{n}.json",
                                     status="processing", size=per_job, next_poll_at=now,
                                     leap_job_id=uuid.UUID(leap_job.job_id))  # fmt: skip
        Asset.objects.bulk_create(
            Asset(job=job, batch=batch, line=i + 2, position=i, partner_reference=p["partner_reference"],
                  payload=p, status="PROCESSING") for i, p in enumerate(payloads))  # fmt: skip
    interval = timedelta(seconds=settings.ONBOARDING_POLL_SECONDS)
    route = "GET /v1.1/jobs/meters/{job_id}"
    print(f"\n{n_jobs} open Leap jobs x {per_job} assets, ONBOARDING_POLL_SECONDS "
          f"{settings.ONBOARDING_POLL_SECONDS}\n")  # fmt: skip
    print("| beat round | job reads | round time |")
    print("| --- | ---: | ---: |")
    with leap.use_transport(sim.transport(), sleep=lambda s: None):
        for label, at in (("t", now), ("t + 1 s (same interval)", now + timedelta(seconds=1)),
                          ("t + interval", now + interval + timedelta(seconds=1))):  # fmt: skip
            before = sim.requests.count(route)
            began = time.perf_counter()
            jobs.poll_due(now=at)
            print(f"| {label} | {sim.requests.count(route) - before} | "
                  f"{time.perf_counter() - began:.2f} s |")  # fmt: skip
        with leap.get_client() as client:
            began = time.perf_counter()
            for job_id in list(sim.jobs.jobs):
                client.get_meter_job(job_id)
            print(f"| floor: {len(sim.jobs.jobs)} bare reads of a processing job (client + simulator, "
                  f"no database) | {len(sim.jobs.jobs)} | {time.perf_counter() - began:.2f} s |")  # fmt: skip
        for job in sim.jobs.jobs.values():
            job.due = sim.now
        sim.jobs.process_due()  # Leap's own work (creating the meters) is not ours to time
        before = sim.requests.count(route)
        began = time.perf_counter()
        jobs.poll_due(now=now + 2 * interval + timedelta(seconds=2))
        done = Asset.objects.filter(status="COMPLETED").count()
        print(f"| t + 2 intervals: Leap finished, {done:,} outcomes applied | "
              f"{sim.requests.count(route) - before} | {time.perf_counter() - began:.2f} s |")  # fmt: skip


# One completed batch per job.
FILL_BATCHES = """
    INSERT INTO onboarding_batch (job_id, number, file_name, update_existing, size, status,
        send_attempts, polls, poll_failures, last_error, rejection, leap_counts)
    SELECT id, 1, 'p-' || id || '.json', false, 500, 'completed', 1, 3, 0, '', '[]', '{}'
    FROM onboarding_job
    """
# n meters at every enrollment status ({n}: how many).
FILL_METERS = """
    INSERT INTO meters_meter (meter_id, partner_reference, transmission_region, load_types,
        connection_references, tags, is_archived, global_enrollment_status,
        action_required, open_partner_actions, open_leap_actions, details_hash,
        enrollment_hash, first_seen_at, last_seen_at, customer_group)
    SELECT md5('m' || g)::uuid, 'bench-' || g, 'CAISO', '["BATTERY_STORAGE"]', '[]', '[]',
        false,
        (ARRAY['PENDING','PENDING','ELIGIBLE','ACTIVE','ACTIVE','ACTIVE'])[1 + g % 6],
        g % 9 = 0, (g % 9 = 0)::int, 0, '', '', now(), now(), NULL
    FROM generate_series(1, {n}) g
    """
# Their assets over the jobs, at every funnel step; one in 50 failed ({n}: how many).
FILL_ASSETS = """
    WITH j AS (SELECT id, programs, row_number() OVER (ORDER BY id) - 1 AS k
               FROM onboarding_job),
         b AS (SELECT id, job_id FROM onboarding_batch)
    INSERT INTO onboarding_asset (job_id, batch_id, line, position, partner_reference,
        customer_id, site_id, label, payload, programs, status, detail_name,
        detail_description, failed_fields, meter_id, stage, stage_since, submitted_at,
        created_at, eligible_at, active_at, link_error)
    SELECT j.id, b.id, g / 200 + 2, g / 200, 'bench-' || g, 'cust-' || g, 'site-' || g, '',
        '{}', j.programs,
        CASE WHEN g % 50 = 0 THEN 'FAILED' ELSE 'COMPLETED' END,
        CASE WHEN g % 50 = 0 THEN 'ADDRESS_NOT_FOUND' ELSE 'METER_CREATED' END, '', '{}',
        CASE WHEN g % 50 = 0 THEN NULL ELSE md5('m' || g)::uuid END,
        CASE WHEN g % 50 = 0 THEN 'failed'
             WHEN g % 6 IN (0, 1) THEN 'created'
             WHEN g % 6 = 2 THEN 'eligible' ELSE 'active' END,
        now() - (g % 40) * interval '1 day',
        now() - (g % 40 + 30) * interval '1 day',
        now() - (g % 40 + 29) * interval '1 day',
        CASE WHEN g % 6 >= 2 THEN now() - (g % 40 + 10) * interval '1 day' END,
        CASE WHEN g % 6 >= 3 THEN now() - (g % 40) * interval '1 day' END, ''
    FROM generate_series(1, {n}) g
    JOIN j ON j.k = g % 200
    JOIN b ON b.job_id = j.id
    """
# Each created asset's program steps: its first program is its slowest (the asset's
# own step); the other program of a two-program job is ACTIVE five days after creation.
FILL_PROGRAM_STEPS = """
    INSERT INTO onboarding_programstep (asset_id, program, stage, stage_since,
        created_at, eligible_at, active_at)
    SELECT a.id, p.program,
        CASE WHEN p.n = 1 THEN a.stage ELSE 'active' END,
        CASE WHEN p.n = 1 THEN a.stage_since ELSE a.created_at + interval '5 days' END,
        a.created_at,
        CASE WHEN p.n = 1 THEN a.eligible_at ELSE a.created_at + interval '2 days' END,
        CASE WHEN p.n = 1 THEN a.active_at ELSE a.created_at + interval '5 days' END
    FROM onboarding_asset a
    CROSS JOIN LATERAL jsonb_array_elements_text(a.programs) WITH ORDINALITY
        AS p(program, n)
    WHERE a.stage IN ('created', 'eligible', 'active')
    """
# An open partner action on each meter that has one.
FILL_ACTIONS = """
    INSERT INTO meters_requiredaction (meter_id, side, program_identifier, delivery_period,
        action_type, code, description, first_seen_at, last_seen_at, deadline)
    SELECT meter_id, 'partner', 'CEC-DSGS', '2026', 'IS_AUTHORIZED', 'AUTH_0001',
        'The customer must authorize', now(), now(), now() + interval '5 days'
    FROM meters_meter WHERE action_required
    """


def fill_portfolio(n: int) -> None:
    """n onboarded meters: Meter rows, their assets over 200 jobs (a quarter of them in two
    programs) and their program steps, at every funnel step."""
    from django.db import connection

    from onboarding.models import Draft, Job

    wipe()
    u = user()
    began = time.perf_counter()
    jobs_n = 200
    for j in range(jobs_n):
        draft = Draft.objects.create(source="csv", filename=f"p-{j}.csv", region="CAISO",
                                     meter_type="DEVICE", status="submitted")  # fmt: skip
        Job.objects.create(draft=draft, submitted_by=u, submitted_by_name=u.username,
                           status="done", programs=[["CEC-DSGS"], ["ELRP"], ["CEC-DSGS", "ELRP"],
                                                    ["DRAM"]][j % 4])  # fmt: skip
    with connection.cursor() as c:
        c.execute(FILL_BATCHES)
        c.execute(FILL_METERS.replace("{n}", str(int(n))))
        c.execute(FILL_ASSETS.replace("{n}", str(int(n))))
        c.execute(FILL_PROGRAM_STEPS)
        c.execute(FILL_ACTIONS)
        # VACUUM as autovacuum would have by then: the stuck counts are index-only scans.
        for table in ("onboarding_asset", "onboarding_programstep", "meters_meter",
                      "meters_requiredaction"):  # fmt: skip
            c.execute(f"VACUUM ANALYZE {table}")
    print(
        f"\nfilled {n:,} onboarded meters over {jobs_n} jobs in {time.perf_counter() - began:.0f} s"
    )
    time_funnel()


def time_funnel() -> None:
    """Recompute the funnel sums of every job, then of one job at a time."""
    from onboarding.follow import refresh_funnel
    from onboarding.models import Job

    ids = list(Job.objects.values_list("pk", flat=True))
    began = time.perf_counter()
    refresh_funnel(ids)
    print(f"funnel sums of all {len(ids)} jobs recomputed in {time.perf_counter() - began:.2f} s")
    began = time.perf_counter()
    for job_id in ids[:20]:
        refresh_funnel([job_id])
    print(f"one job's funnel sums (500 assets, as after each poll or stamp): "
          f"{(time.perf_counter() - began) * 1000 / 20:.1f} ms")  # fmt: skip


def pages(runs: int) -> None:
    from django.test import Client

    from onboarding.models import Job

    client = Client()
    client.force_login(user())
    job = Job.objects.order_by("pk").first()
    from django.utils import timezone

    from onboarding.follow import stuck_assets

    counts = []
    for _ in range(runs):
        began = time.perf_counter()
        stuck = stuck_assets(timezone.now()).count()
        counts.append((time.perf_counter() - began) * 1000)
    print(f"\nthe action queue's stuck-lane count ({stuck:,} stuck): p50 "
          f"{statistics.median(counts):.1f} ms")  # fmt: skip
    print("\n| page | p50 ms | p95 ms | bytes |\n| --- | ---: | ---: | ---: |")
    for name, path in (
        ("floor: /healthz (middleware only)", "/healthz"),
        ("floor: preferences (login, base template)", "/me/"),
        ("funnel", "/onboarding/funnel/"),
        ("stuck lane", "/onboarding/stuck/"),
        ("action queue (counts the stuck lane)", "/actions/"),
        ("job page (500 assets, first 100)", f"/onboarding/jobs/{job.pk}/"),
        ("history", "/onboarding/"),
    ):
        timings = []
        for i in range(runs + 2):
            began = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - began) * 1000
            assert response.status_code == 200, (name, response.status_code)
            if i >= 2:
                timings.append(elapsed)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        flag = "" if p95 <= 150 else " **over 150**"
        print(f"| {name} | {statistics.median(timings):.1f} | {p95:.1f}{flag} | "
              f"{len(response.content):,} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--pages-only", action="store_true", help="only step 4 (fills again)")
    args = parser.parse_args()
    setup_django()
    if args.pages_only:
        fill_portfolio(args.meters)
        pages(args.runs)
        return
    wipe()
    print(f"(PostgreSQL, {os.cpu_count()} cores, shared machine)\n")
    print("| step | time | result |\n| --- | ---: | --- |")
    preview_and_submit(args.rows)
    follow_open_jobs(args.jobs)
    fill_portfolio(args.meters)
    pages(args.runs)


if __name__ == "__main__":
    main()
