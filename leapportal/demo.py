"""Demo set-up: one login per role, and the demo data seeded through the Leap simulator."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import secrets
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command, get_commands
from django.db import transaction
from django.db.models import Count

from dispatch.tasks import drain_deliveries
from leapportal import roles
from leapportal.celery import app as celery_app
from leapportal.timezones import trade_date
from leapportal.web import csvexport
from mapping.imports import COLUMNS, apply_import, preview_upload
from meters.models import GroupAssignment, Meter, ProgramEnrollment, SyncRun
from meters.tasks import scheduled_full_sync


@dataclass(frozen=True)
class Login:
    """A demo login as printed for the person running the demo."""

    username: str
    password: str
    role: str
    superuser: bool


def ensure_demo_logins(password: str | None = None) -> list[Login]:
    """Create or reset the users viewer/operator/admin (admin is also a superuser)."""
    user_model = get_user_model()
    logins = []
    with transaction.atomic():
        for role in roles.ROLES:
            # A fresh password on every run unless one is given: the demo may be left running.
            secret = password or secrets.token_urlsafe(9)
            user, _ = user_model.objects.get_or_create(username=role)
            user.set_password(secret)
            user.is_active = True
            user.is_superuser = user.is_staff = role == roles.ADMIN
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            logins.append(Login(role, secret, role, user.is_superuser))
    return logins


@dataclass
class SeedStep:
    """One optional seeding step: a Celery task, a management command or a function."""

    label: str
    target: str  # "module.task_name", a command name, or "module.function"
    kind: str = "task"  # "task" | "command" | "function"
    args: list[str] = field(default_factory=list)

    def resolve(self) -> Callable[[], Any] | None:
        """A callable running the step, or None while that part of the project is missing."""
        if self.kind == "command":
            if self.target not in get_commands():
                return None
            return lambda: call_command(self.target, *self.args, stdout=StringIO())
        module_name, _, name = self.target.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None  # that part of the project has not landed yet
            raise
        found = getattr(module, name, None)
        if found is None:
            return None
        if self.kind == "task":
            return lambda: found.apply(throw=True).get()
        return found


def _sim_admin(path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the simulator's /_sim/ admin API (not Leap's: only the simulator has it)."""
    token = os.environ.get("LEAP_SIMULATOR_ADMIN_TOKEN", "")
    request = urllib.request.Request(  # noqa: S310 - LEAP_BASE_URL is http(s), checked in settings
        f"{settings.LEAP_BASE_URL}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - see above
        return json.loads(response.read())


MAPPED_PERCENT = 80  # of the meters, mapped to one of our customers and sites


def _shuffled(meter_id: Any) -> bytes:
    """A stable order of meters unrelated to their ids' order (which follows Leap's UUIDs)."""
    return hashlib.blake2b(str(meter_id).encode(), digest_size=8).digest()


def map_demo_meters() -> str:
    """Map most meters to our customer and site ids, the way an admin does: a CSV import.

    The customer id is the meter's partner_reference where Leap has one (our Connect refId is our
    customer id), the site id our own; a fifth of the meters stay unmapped, as in a real portfolio
    where onboarding lags. The import, its file and one audit row per meter are kept as an admin's
    upload would be. Meters already mapped are left alone, so a second seeding adds nothing.
    """
    meters = Meter.objects.present()
    rows = sorted(
        meters.values_list(
            "meter_id",
            "partner_reference",
            "end_customer_company_name",
            "end_customer_name",
            "city",
            "mapping__customer_id",
        ),
        key=lambda row: _shuffled(row[0]),
    )
    chosen = rows[: round(len(rows) * MAPPED_PERCENT / 100)]
    records: list[list[str]] = []
    for meter_id, reference, company, name, city, mapped_to in chosen:
        if mapped_to is not None:
            continue
        number = int(_shuffled(meter_id).hex()[:8], 16) % 900_000 + 100_000
        customer = reference or f"C-{number}"
        site = f"S-{number}-{str(meter_id)[:4].upper()}"
        label = ", ".join(part for part in (company or name, city) if part)[:200]
        records.append([str(meter_id), reference or "", customer, site, label])
    if not records:
        return "every meter the demo maps is mapped already"
    admin = get_user_model().objects.filter(username=roles.ADMIN).first()
    if admin is None:  # seed_demo run without demo_logins: an admin of its own
        admin, _ = get_user_model().objects.get_or_create(username=roles.ADMIN)
    upload = preview_upload(
        # Written by the one CSV helper (formula-safe cells), read back by the import.
        "".join(csvexport.csv_rows(COLUMNS, records, lineterminator="\n")).encode(),
        filename="crm-meter-sites.csv",
        uploaded_by=admin,
    )
    if not upload.can_apply:
        raise SkipStep(f"the demo's mapping file previewed as {upload.counts}; not applied")
    written = apply_import(upload.pk, actor=admin, reason="Initial load from the CRM export")
    return f"{written} of {len(rows)} meters (import {upload.pk})"


def _day_of(region: str, at: datetime) -> Any:
    return trade_date(region or None, at)


def _delivering_groups(start: datetime, used: set[str]) -> list[tuple[str, str]]:
    """(market_group_id, region) of groups that deliver at `start` and have members that day.

    Largest first. A group is dispatched only while its delivery period runs (an ELRP group of
    May-October has no members in December), and its members are the ACTIVE meters our copy has
    in it on the dispatch's trade date.
    """
    delivering = {
        g["market_group_id"]: g
        for g in _sim_admin("/_sim/groups")["market_groups"]
        if datetime.fromisoformat(g["start_date_time"])
        <= start
        < datetime.fromisoformat(g["end_date_time"])
    }
    found = []
    for region in sorted({g["transmission_region"] for g in delivering.values()}):
        rows = (
            GroupAssignment.objects.filter(
                trade_date=_day_of(region, start),
                market_group__region=region,
                meter__global_enrollment_status="ACTIVE",
            )
            .values("market_group_id")
            .annotate(members=Count("meter"))
            .order_by("-members", "market_group_id")
        )
        for row in rows:
            group_id = str(row["market_group_id"])
            if group_id in delivering and group_id not in used:
                found.append((row["members"], group_id, region))
    found.sort(key=lambda item: (-item[0], item[1]))
    return [(group_id, region) for _, group_id, region in found]


def _active_meters(count: int) -> list[tuple[str, str]]:
    """(meter_id, program) of ACTIVE meters in a market group today: those Leap dispatches."""
    rows = (
        ProgramEnrollment.objects.filter(
            meter__global_enrollment_status="ACTIVE",
            meter__is_archived=False,
            meter__missing_since__isnull=True,
            enrollment_status="ACTIVE",
            market_group__isnull=False,
            delivery_period_start__lte=datetime.now(UTC),
            delivery_period_end__gt=datetime.now(UTC),
        )
        .order_by("meter_id", "program_identifier")
        .values_list("meter_id", "program_identifier")
    )
    chosen: dict[str, str] = {}
    for meter_id, program in rows:
        chosen.setdefault(str(meter_id), program)
        if len(chosen) == count:
            break
    return list(chosen.items())


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# Event ids the simulator made in this seeding, for the webhook step after it.
_created_events: list[str] = []


def create_demo_dispatches() -> str:
    """Have the simulator dispatch market groups and meters (today and tomorrow), as Leap would.

    Only groups that deliver on the dispatch's date, with members on that trade date, and meters
    that are ACTIVE in a program now: the dispatches a partner really receives.
    """
    if not os.environ.get("LEAP_SIMULATOR_ADMIN_TOKEN"):
        raise SkipStep("LEAP_SIMULATOR_ADMIN_TOKEN is not set (the demo sets it)")
    _created_events.clear()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    used: set[str] = set()
    groups = 0
    for offset_hours in (2, 5, 26):
        start = now + timedelta(hours=offset_hours)
        candidates = _delivering_groups(start, used)
        if not candidates:
            continue
        group_id, _region = candidates[0]
        used.add(group_id)
        created = _sim_admin(
            "/_sim/dispatches",
            {
                "market_group_id": group_id,
                "start": _z(start),
                "end": _z(start + timedelta(hours=2)),
            },
        )
        _created_events.extend(created["event_ids"])
        groups += 1
    meters = _active_meters(4)
    for position, (meter_id, program) in enumerate(meters):
        start = now + timedelta(hours=3 + 24 * (position % 2))
        created = _sim_admin(
            "/_sim/dispatches",
            {
                "meter_ids": [meter_id],
                "program": program,
                "start": _z(start),
                "end": _z(start + timedelta(hours=1)),
            },
        )
        _created_events.extend(created["event_ids"])
    return f"{len(_created_events)} dispatch events for {groups} market groups and {len(meters)} meters"


def receive_demo_dispatch_webhooks() -> str:
    """Let the simulator deliver the new dispatches to our receivers, then process them.

    Leap pushes dispatches; the reconcile poll is only the fallback. So, as in production, the
    demo's dispatches arrive by webhook at our web server (which make demo starts before seeding)
    and are processed here at once, before the reconcile step looks for any it missed.
    """
    if not _created_events:
        raise SkipStep("no dispatch was created")
    deadline = time.monotonic() + 20
    while True:
        _sim_admin("/_sim/deliver", {})
        deliveries = [
            d for d in _sim_admin("/_sim/deliveries")["deliveries"] if d["kind"] == "dispatch"
        ]
        waiting = [d for d in deliveries if d["state"] == "pending" and d["attempts"] == 0]
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    delivered = [d for d in deliveries if d["state"] == "delivered"]
    failed = [d for d in deliveries if d["state"] != "delivered"]
    if not delivered:
        statuses = ", ".join(str(d["last_status"]) for d in failed) or "none"
        raise SkipStep(
            f"our receivers at {settings.PUBLIC_BASE_URL} did not accept the notifications "
            f"(answers: {statuses}); the reconcile poll fetches the dispatches instead"
        )
    processed = drain_deliveries.apply(throw=True).get()
    return f"{len(delivered)} notifications delivered to our receivers, {processed} processed"


def run_full_meter_sync() -> str:
    """The nightly full meter sync, run now; says what it did (the task itself returns a run id)."""
    run = SyncRun.objects.get(pk=scheduled_full_sync.apply(throw=True).get())
    outcome = (
        f"sync run {run.status}: {run.created} meters created, {run.updated} updated, "
        f"{run.unchanged} unchanged"
    )
    if run.failed or run.error:
        outcome += f", {run.failed} failed {run.error}".rstrip()
    return outcome


class SkipStep(Exception):
    """A step that cannot run here; the message says why."""


# In the order a fresh installation needs them: our receivers registered, the meters synced and
# mostly mapped, then dispatches (made by the simulator, as Leap would) pushed to our receivers by
# webhook, and the reconcile poll after them as the fallback it is.
SEED_STEPS = [
    SeedStep(
        "dispatch webhook receivers registered with the simulator",
        "register_dispatch_webhooks",
        kind="command",
        args=["--no-test"],  # seed_demo may run before (or without) our web server
    ),
    SeedStep("full meter sync (details + enrollments)", "leapportal.demo.run_full_meter_sync",
             kind="function"),
    SeedStep("meters mapped to our customers and sites (a CSV import)",
             "leapportal.demo.map_demo_meters", kind="function"),
    SeedStep("demo dispatches created in the simulator", "leapportal.demo.create_demo_dispatches",
             kind="function"),
    SeedStep("dispatch notifications received by webhook",
             "leapportal.demo.receive_demo_dispatch_webhooks", kind="function"),
    SeedStep("dispatch reconcile (meter and group dispatches)", "dispatch.tasks.reconcile_dispatches"),
    SeedStep("revenue sync (report versions, meter revenue, unresponsive meters)",
             "revenue.tasks.scheduled_revenue_sync"),
]  # fmt: skip
SEEDED_APPS = ("meters", "dispatch", "ops", "mapping", "revenue")


def table_counts() -> dict[str, int]:
    """Row counts of every model of the apps the demo seeds, by "app.Model"."""
    counts = {}
    for label in SEEDED_APPS:
        if not apps.is_installed(label):
            continue
        for model in apps.get_app_config(label).get_models():
            counts[f"{label}.{model.__name__}"] = model.objects.count()
    return counts


@dataclass
class SeedReport:
    """What seed_demo did: steps run or skipped, and the rows each table gained."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)


def seed_demo(steps: list[SeedStep] | None = None) -> SeedReport:
    """Run each available seeding step in-process (eagerly, so the tasks they enqueue run too)."""
    report = SeedReport()
    before = table_counts()
    previous = celery_app.conf.task_always_eager
    # Run now and here: the demo's worker is not up yet, and the person waits for the data.
    celery_app.conf.task_always_eager = True
    try:
        for step in steps if steps is not None else SEED_STEPS:
            run = step.resolve()
            if run is None:
                report.skipped.append(f"{step.label}: {step.target} is not in this checkout yet")
                continue
            try:
                outcome = run()
            except SkipStep as skip:
                report.skipped.append(f"{step.label}: {skip}")
                continue
            report.ran.append(step.label if outcome is None else f"{step.label}: {outcome}")
    finally:
        celery_app.conf.task_always_eager = previous
    report.totals = table_counts()
    report.added = {
        name: total - before.get(name, 0)
        for name, total in report.totals.items()
        if total != before.get(name, 0)
    }
    return report
