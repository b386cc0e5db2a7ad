"""Demo set-up: one login per role, and the demo data seeded through the Leap simulator."""

from __future__ import annotations

import importlib
import json
import os
import secrets
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

from leapportal import roles
from leapportal.celery import app as celery_app


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


def create_demo_dispatches() -> str:
    """Have the simulator dispatch a few market groups (today and tomorrow), as Leap would."""
    if not os.environ.get("LEAP_SIMULATOR_ADMIN_TOKEN"):
        raise SkipStep("LEAP_SIMULATOR_ADMIN_TOKEN is not set (the demo sets it)")
    groups = _sim_admin("/_sim/groups")["market_groups"][:3]
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    events = []
    for offset_hours, group in zip((2, 5, 26), groups, strict=False):
        start = now + timedelta(hours=offset_hours)
        created = _sim_admin(
            "/_sim/dispatches",
            {
                "market_group_id": group["market_group_id"],
                "start_time": start.isoformat().replace("+00:00", "Z"),
                "end_time": (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
            },
        )
        events.extend(created["event_ids"])
    return f"{len(events)} dispatch events for {len(groups)} market groups"


def run_full_meter_sync() -> str:
    """The nightly full meter sync, run now; says what it did (the task itself returns a run id)."""
    from meters.models import SyncRun
    from meters.tasks import scheduled_full_sync

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


# In the order a fresh installation needs them: our receivers registered, the meters synced, then
# dispatches (made by the simulator, as Leap would) fetched by the reconcile poll.
SEED_STEPS = [
    SeedStep(
        "dispatch webhook receivers registered with the simulator",
        "register_dispatch_webhooks",
        kind="command",
        args=["--no-test"],  # our web server is not up yet to answer the test notification
    ),
    SeedStep("full meter sync (details + enrollments)", "leapportal.demo.run_full_meter_sync",
             kind="function"),
    SeedStep("demo dispatches created in the simulator", "leapportal.demo.create_demo_dispatches",
             kind="function"),
    SeedStep("dispatch reconcile (meter and group dispatches)", "dispatch.tasks.reconcile_dispatches"),
]  # fmt: skip
SEEDED_APPS = ("meters", "dispatch", "ops", "mapping")


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
