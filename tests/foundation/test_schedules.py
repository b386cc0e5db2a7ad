"""The beat schedule is declared once in settings and installed into django-celery-beat."""

from __future__ import annotations

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from leapportal.schedules import install_schedules

pytestmark = pytest.mark.django_db


def test_migrate_installed_every_declared_entry_as_a_periodic_task():
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        row = PeriodicTask.objects.get(name=name)
        assert row.task == entry["task"]
        assert row.enabled
        schedule = entry["schedule"]
        if isinstance(schedule, crontab):
            assert row.crontab is not None and row.interval is None
            assert (row.crontab.minute, row.crontab.hour) == (
                schedule._orig_minute,
                schedule._orig_hour,
            )
            assert str(row.crontab.timezone) == "UTC"
        else:
            assert row.interval is not None and row.crontab is None
            assert (row.interval.every, row.interval.period) == (int(schedule), "seconds")


def test_an_admins_edit_survives_reinstall_and_migrate():
    row = PeriodicTask.objects.get(name="worker-heartbeat")
    every_five_minutes, _ = IntervalSchedule.objects.get_or_create(
        every=5, period=IntervalSchedule.MINUTES
    )
    row.interval = every_five_minutes
    row.enabled = False
    row.save()

    assert install_schedules() == []
    call_command("migrate", verbosity=0)
    call_command("install_schedules", verbosity=0)

    row.refresh_from_db()
    assert (row.interval.every, row.interval.period, row.enabled) == (5, "minutes", False)


def test_reset_restores_the_declared_timing():
    row = PeriodicTask.objects.get(name="worker-heartbeat")
    row.interval = IntervalSchedule.objects.create(every=7, period=IntervalSchedule.MINUTES)
    row.save()

    install_schedules(reset=True)

    row.refresh_from_db()
    declared = settings.CELERY_BEAT_SCHEDULE["worker-heartbeat"]["schedule"]
    assert (row.interval.every, row.interval.period) == (int(declared), "seconds")


def test_a_deleted_entry_is_installed_again():
    PeriodicTask.objects.filter(name="worker-heartbeat").delete()

    assert install_schedules() == ["worker-heartbeat"]
    assert PeriodicTask.objects.filter(name="worker-heartbeat").count() == 1
    # Crontab rows are shared, not duplicated, by repeated installs.
    before = CrontabSchedule.objects.count()
    install_schedules(reset=True)
    assert CrontabSchedule.objects.count() == before
