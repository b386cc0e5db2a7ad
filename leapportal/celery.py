"""The Celery application. Configuration comes from Django settings (CELERY_ namespace)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")

app = Celery("leapportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
