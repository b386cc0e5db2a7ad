"""Copy settings.CELERY_BEAT_SCHEDULE into django-celery-beat's tables.

The settings hold the one declaration of every periodic task. Installing creates the missing rows
and leaves existing ones alone, so a timing an admin edited in the Django admin survives deploys.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab
from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


def _schedule_fields(schedule: Any) -> dict[str, Any]:
    """The interval or crontab row (shared, created once) for a declared schedule."""
    if isinstance(schedule, int | float):
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(schedule), period=IntervalSchedule.SECONDS
        )
        return {"interval": interval, "crontab": None}
    if isinstance(schedule, crontab):
        cron, _ = CrontabSchedule.objects.get_or_create(
            minute=schedule._orig_minute,
            hour=schedule._orig_hour,
            day_of_week=schedule._orig_day_of_week,
            day_of_month=schedule._orig_day_of_month,
            month_of_year=schedule._orig_month_of_year,
            timezone="UTC",
        )
        return {"crontab": cron, "interval": None}
    raise TypeError(f"unsupported schedule {schedule!r}")


def install_schedules(*, reset: bool = False) -> list[str]:
    """Create a PeriodicTask per entry; with reset, also restore timings to the declared ones."""
    created = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        fields = _schedule_fields(entry["schedule"])
        existing = PeriodicTask.objects.filter(name=name).first()
        if existing is None:
            PeriodicTask.objects.create(
                name=name, task=entry["task"], description=entry.get("description", ""), **fields
            )
            created.append(name)
        elif reset:
            for key, value in fields.items():
                setattr(existing, key, value)
            existing.task = entry["task"]
            existing.save()
    return created
