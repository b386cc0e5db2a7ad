"""Demo set-up: one login per role, and the demo data seeded through the Leap simulator."""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
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
    """One optional seeding step: a Celery task that another part of the project provides."""

    label: str
    task: str  # dotted path "module.task_name"
    kwargs: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> Callable[..., Any] | None:
        """The task object, or None while its module does not exist yet."""
        module_name, _, name = self.task.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None  # that part of the project has not landed yet
            raise
        return getattr(module, name, None)


# The same tasks beat runs, in the order a fresh installation needs them: meters, then dispatches.
SEED_STEPS = [
    SeedStep("full meter sync (details + enrollments)", "meters.tasks.scheduled_full_sync"),
    SeedStep(
        "dispatch reconcile (meter and group dispatches)", "dispatch.tasks.reconcile_dispatches"
    ),
]
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
            task = step.resolve()
            if task is None:
                report.skipped.append(f"{step.label}: {step.task} is not in this checkout yet")
                continue
            task.apply(kwargs=step.kwargs, throw=True)
            report.ran.append(step.label)
    finally:
        celery_app.conf.task_always_eager = previous
    report.totals = table_counts()
    report.added = {
        name: total - before.get(name, 0)
        for name, total in report.totals.items()
        if total != before.get(name, 0)
    }
    return report
