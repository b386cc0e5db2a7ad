"""Every scheduled task resolves to a task the worker has registered."""

from __future__ import annotations

from django.conf import settings

from leapportal.celery import app


def test_every_scheduled_task_is_a_registered_task():
    # What a worker does at start: import every app's tasks module.
    app.loader.import_default_modules()
    registered = set(app.tasks)
    missing = {
        name: entry["task"]
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        if entry["task"] not in registered
    }
    assert not missing, f"scheduled but not registered (beat would send them to nobody): {missing}"
