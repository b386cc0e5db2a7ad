"""Settings for leapportal, read from the environment.

Every variable is parsed here, once; nonsense raises ImproperlyConfigured at start-up rather than
surfacing as odd behaviour later. The README lists every variable.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from leapportal import __version__, conf
from leapportal import queues as celery_queues
from leapportal.env import (  # noqa: F401 - env_str etc. stay importable from here
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
TESTING = "pytest" in sys.modules or os.environ.get("LEAPPORTAL_TESTING") == "true"


# --- core ----------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-development-key-only-for-debug-and-tests-" + "x" * 20  # noqa: S105
    else:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
elif len(SECRET_KEY) < 50 and not (DEBUG or TESTING):
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS and not TESTING:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list at least one host when DEBUG is false")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = conf.INSTALLED_APPS

MIDDLEWARE = conf.MIDDLEWARE

ROOT_URLCONF = "leapportal.urls"
WSGI_APPLICATION = "leapportal.wsgi.application"

TEMPLATES = conf.templates(BASE_DIR)

# PostgreSQL is the only database: in production, in the tests and in the demo, which runs an
# embedded PostgreSQL server from a pip wheel (leapportal/embedded_db.py) when DATABASE_URL is unset.
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "DATABASE_URL must be set when DEBUG is false (postgresql://user:password@host:5432/name)"
        )
    # Development: the embedded server of `make demo` / `manage.py embedded_db start`, if it runs.
    from leapportal import embedded_db

    DATABASE_URL = embedded_db.url() or ""
    if not DATABASE_URL:
        raise ImproperlyConfigured(
            f"DATABASE_URL is not set and the embedded PostgreSQL (data in {embedded_db.data_dir()}) "
            "is not running: start it with `python manage.py embedded_db start` (make demo starts "
            "and stops it by itself), or set DATABASE_URL=postgresql://user@host:5432/name"
        )
if urlparse(DATABASE_URL).scheme.startswith("sqlite"):
    raise ImproperlyConfigured(
        f"DATABASE_URL: SQLite is not supported, leapportal runs on PostgreSQL only (got "
        f"{DATABASE_URL!r}). Without a server, `python manage.py embedded_db start` runs an "
        "embedded PostgreSQL and prints its URL; `make demo` uses it by itself."
    )
if urlparse(DATABASE_URL).scheme not in {"postgres", "postgresql", "pgsql"}:
    raise ImproperlyConfigured(f"DATABASE_URL must be a postgresql:// URL, got {DATABASE_URL!r}")
if not urlparse(DATABASE_URL).path.strip("/"):
    raise ImproperlyConfigured(f"DATABASE_URL must name a database, got {DATABASE_URL!r}")
# Persistent connections, checked before each request reuses one: after a database restart the
# first request gets a fresh connection instead of a 500 on the dead one.
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
}
# No JIT compilation: our queries read a page of rows each, and PostgreSQL compiles whenever a
# plan's cost estimate passes jit_above_cost, which a misestimated row count does (a dispatch day
# of 900 timeslots estimated at 13,000 spent 90 ms compiling to run a 12 ms query).
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["options"] = f"{_db_options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling by django-axes: after LOGIN_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES (a right password included).
# By the pair, so that one colleague's typos (or someone guessing) do not lock a whole office out.
# leapportal.auth.PermissionsBackend reads a user's permissions in one query (Django's backend
# takes two) and logs nobody in; Django's backend, after it, logs people in and answers
# permissions from the cache the first one filled.
AUTHENTICATION_BACKENDS = [
    "leapportal.auth.ThrottledBackend",
    "leapportal.auth.PermissionsBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", default=5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", default=15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Flash messages live in the (database) session, not in a cookie: a message may carry a secret
# shown once (a new API token), and the messages cookie is signed, not encrypted.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # stored in UTC; pages show each market's zone (see leapportal.timezones)
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG or TESTING:
    # The manifest only exists after collectstatic; development and tests serve files as they are.
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True

# --- security (production passes `manage.py check --deploy`) -------------------------------------

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG and not TESTING)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Load balancers probe over plain HTTP: a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Leap webhook bodies can hold thousands of timeslots; Django's 2.5 MB default is too tight.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int(
    "DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024, minimum=1024
)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Leap ----------------------------------------------------------------------------------------

LEAP_HOSTS = {
    "staging": "https://api.staging.leap.energy",
    "production": "https://api.leap.energy",
}
LEAP_ENVIRONMENT = env_choice("LEAP_ENVIRONMENT", tuple(LEAP_HOSTS), default="staging")
LEAP_API_KEY = env_str("LEAP_API_KEY")
_SIMULATOR_KEY = "simulator-key-0000000000000000"  # noqa: S105 - the simulator's public test key
# In development without a real key we talk to the bundled Leap simulator (`manage.py
# leap_simulator`), as the demo does; tests swap in an in-process simulator transport instead
# (leap.use_transport). A production process (DEBUG off) never falls back to it silently.
LEAP_SIMULATOR = env_bool("LEAP_SIMULATOR", default=(DEBUG or TESTING) and not LEAP_API_KEY)
if LEAP_SIMULATOR and LEAP_ENVIRONMENT == "production":
    raise ImproperlyConfigured("LEAP_SIMULATOR must be false when LEAP_ENVIRONMENT is production")
if LEAP_API_KEY and (LEAP_API_KEY != LEAP_API_KEY.strip() or " " in LEAP_API_KEY):
    raise ImproperlyConfigured("LEAP_API_KEY must not contain spaces (a copy-paste accident?)")
if LEAP_SIMULATOR:
    LEAP_API_KEY = LEAP_API_KEY or _SIMULATOR_KEY
    _default_leap_url = "http://127.0.0.1:8001"
else:
    if not LEAP_API_KEY:
        raise ImproperlyConfigured("LEAP_API_KEY must be set when LEAP_SIMULATOR is false")
    if LEAP_API_KEY == _SIMULATOR_KEY:
        raise ImproperlyConfigured(
            "LEAP_API_KEY is the simulator's key, but LEAP_SIMULATOR is false"
        )
    _default_leap_url = LEAP_HOSTS[LEAP_ENVIRONMENT]
# The host only: the client adds each service's versioned path (/v2/..., /v1.1/...).
LEAP_BASE_URL = env_url(
    "LEAP_BASE_URL", default=_default_leap_url, schemes=("https", "http")
).rstrip("/")
# Leap's published OpenAPI specs (not in this repo): the simulator and the contract tests read them.
# A relative path is taken from the repository root.
LEAP_OPENAPI_DIR = (BASE_DIR / env_str("LEAP_OPENAPI_DIR", "../shared/leap-api/openapi")).resolve()
LEAP_TIMEOUT_SECONDS = env_float("LEAP_TIMEOUT_SECONDS", default=30.0, minimum=0.1)
LEAP_MAX_RETRIES = env_int("LEAP_MAX_RETRIES", default=5, minimum=0)
# Upper bound on the total backoff one Leap call may sleep through before it gives up; a longer
# Retry-After is handed to the caller (a Celery task retries later) instead of blocking a worker.
LEAP_MAX_RETRY_WAIT_SECONDS = env_float("LEAP_MAX_RETRY_WAIT_SECONDS", default=120.0, minimum=0)
# The User-Agent Leap sees on every request (leap.get_client passes it): our name and version.
LEAP_USER_AGENT = f"leapportal/{__version__}"
LEAP_SIMULATOR_SEED = env_int("LEAP_SIMULATOR_SEED", default=42)
LEAP_SIMULATOR_METERS = env_int("LEAP_SIMULATOR_METERS", default=500, minimum=1)

# Secrets Leap sends back in the header we registered. A comma-separated list: during a rotation
# both the old and the new value are accepted. The first is the one we register.
LEAP_WEBHOOK_HEADER = env_str("LEAP_WEBHOOK_HEADER", "x-leapportal-secret").lower()
if not re.fullmatch(r"[a-z0-9-]+", LEAP_WEBHOOK_HEADER):
    raise ImproperlyConfigured(
        f"LEAP_WEBHOOK_HEADER must be an HTTP header name (letters, digits, -), "
        f"got {LEAP_WEBHOOK_HEADER!r}"
    )
LEAP_METER_WEBHOOK_SECRETS = env_list("LEAP_METER_WEBHOOK_SECRETS", [])
LEAP_DISPATCH_WEBHOOK_SECRETS = env_list("LEAP_DISPATCH_WEBHOOK_SECRETS", [])
for _name, _secrets in (
    ("LEAP_METER_WEBHOOK_SECRETS", LEAP_METER_WEBHOOK_SECRETS),
    ("LEAP_DISPATCH_WEBHOOK_SECRETS", LEAP_DISPATCH_WEBHOOK_SECRETS),
):
    if any(len(s) < 16 for s in _secrets):
        raise ImproperlyConfigured(f"every value in {_name} must be at least 16 characters")
    # The dev secrets below are in the repository: only a development process (DEBUG, tests)
    # may fall back to them. LEAP_SIMULATOR alone does not make a process a development one.
    if not _secrets and not (DEBUG or TESTING):
        raise ImproperlyConfigured(f"{_name} must be set when DEBUG is false")
if DEBUG or TESTING:
    LEAP_METER_WEBHOOK_SECRETS = LEAP_METER_WEBHOOK_SECRETS or ["dev-meter-webhook-secret-0001"]
    LEAP_DISPATCH_WEBHOOK_SECRETS = LEAP_DISPATCH_WEBHOOK_SECRETS or [
        "dev-dispatch-webhook-secret-01"
    ]
# --- meter sync ----------------------------------------------------------------------------------

# A full sync that would mark more than this fraction of the present meters missing holds that part
# for an admin to approve (a Leap outage or a filter bug must not empty the portfolio).
METERS_MISSING_HOLD_FRACTION = env_float("METERS_MISSING_HOLD_FRACTION", default=0.05, minimum=0)
# Incremental syncs ask Leap for changes since the previous good run's start minus this overlap.
METERS_INCREMENTAL_OVERLAP_MINUTES = env_int(
    "METERS_INCREMENTAL_OVERLAP_MINUTES", default=10, minimum=0
)
# A running sync whose heartbeat is older than this is taken as dead (its worker was killed):
# the next run fails it and takes over.
METERS_SYNC_STALE_SECONDS = env_int("METERS_SYNC_STALE_SECONDS", default=600, minimum=1)
METERS_SYNC_PAGE_SIZE = env_int("METERS_SYNC_PAGE_SIZE", default=500, minimum=1)
# The full sync's searches are fetched, validated and prepared by a separate process (the other
# core), see meters/sync/speed/. Off: by threads of the worker's own process.
METERS_SYNC_FETCH_PROCESS = env_bool("METERS_SYNC_FETCH_PROCESS", default=True)
# Long work (the meter sync, page by page) gives way to dispatch (leapportal/priority.py): it waits
# while the oldest waiting dispatch delivery has waited more than this many seconds beyond the
# drain's linger (DISPATCH_DRAIN_LINGER_SECONDS; dispatch.inbox.oldest_due) (0: never),
# at most GIVE_WAY_MAX_SECONDS at a time, and not for deliveries that have not moved for
# GIVE_WAY_STUCK_SECONDS (their worker is down).
GIVE_WAY_AFTER_SECONDS = env_float("GIVE_WAY_AFTER_SECONDS", default=0.5, minimum=0)
GIVE_WAY_MAX_SECONDS = env_float("GIVE_WAY_MAX_SECONDS", default=30.0, minimum=0)
GIVE_WAY_STUCK_SECONDS = env_float("GIVE_WAY_STUCK_SECONDS", default=10.0, minimum=0)
# Task-level retries of a sync after the client's own retries gave up (LeapUnavailable).
METERS_SYNC_MAX_RETRIES = env_int("METERS_SYNC_MAX_RETRIES", default=5, minimum=0)
METERS_SYNC_RETRY_BASE_SECONDS = env_float(
    "METERS_SYNC_RETRY_BASE_SECONDS", default=30.0, minimum=0
)

# Our public base URL, which Leap posts webhooks to (used when registering receivers).
PUBLIC_BASE_URL = env_url(
    "PUBLIC_BASE_URL", default="http://127.0.0.1:8000", schemes=("https", "http")
).rstrip("/")

# Largest meter webhook event accepted (a group.updated event lists its members' ids); a larger
# one gets 413 and its first bytes are kept.
METERS_WEBHOOK_MAX_BYTES = env_int("METERS_WEBHOOK_MAX_BYTES", default=1024 * 1024, minimum=1024)

# --- meter mapping (mapping/) ---------------------------------------------------------------------

# One meter per site unless the site is listed as shared (mapping.SharedSite, edited in the admin).
MAPPING_ONE_METER_PER_SITE = env_bool("MAPPING_ONE_METER_PER_SITE", default=True)
# Largest mapping CSV accepted; a 100,000-row file is about 8 MB.
MAPPING_IMPORT_MAX_BYTES = env_int(
    "MAPPING_IMPORT_MAX_BYTES", default=25 * 1024 * 1024, minimum=1024
)

# --- Celery --------------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
if CELERY_BROKER_URL and urlparse(CELERY_BROKER_URL).scheme not in {
    "redis",
    "rediss",
    "filesystem",
    "memory",
    "amqp",
}:
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL must be a redis://, amqp:// or filesystem:// URL, "
        f"got {CELERY_BROKER_URL!r}"
    )
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if not CELERY_BROKER_URL:
    if TESTING:
        # Unit tests run tasks in-process; tests about the worker set a real broker.
        CELERY_BROKER_URL = "memory://"
    else:
        # The embedded default: kombu's filesystem transport needs no server and works across the
        # web, worker and beat processes of `make demo`.
        CELERY_BROKER_URL = "filesystem://localhost/"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The transport ignores the host, but without one kombu warns "No hostname was supplied" in
    # every process that connects.
    if not urlparse(CELERY_BROKER_URL).netloc:
        CELERY_BROKER_URL = "filesystem://localhost/"
        if os.environ.get("CELERY_BROKER_URL"):
            # Celery reads this variable before our setting: give it the same URL.
            os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL
    _queue_dir = Path(env_str("CELERY_FILESYSTEM_DIR", str(BASE_DIR / "var" / "celery-broker")))
    for _sub in ("out", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "out"),
        "data_folder_out": str(_queue_dir / "out"),
        "processed_folder": str(_queue_dir / "processed"),
        # kombu's default is "control" in the current directory: keep it beside the queue.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
# Tasks record their outcome in our own rows (SyncRun, ...), so results are off unless asked for.
CELERY_RESULT_BACKEND = (
    env_url("CELERY_RESULT_BACKEND", default="", schemes=("redis", "rediss"))
    if env_str("CELERY_RESULT_BACKEND")
    else None
)
# Without a result backend there is nothing to expire; this also keeps beat from installing its
# no-op celery.backend_cleanup entry.
CELERY_RESULT_EXPIRES = None if CELERY_RESULT_BACKEND is None else 24 * 3600
CELERY_TASK_ACKS_LATE = True  # safe because every task is idempotent and takes ids
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", default=1800, minimum=10)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Beat writes each entry's last run to the database right after sending it (the default is every
# 3 minutes): a beat killed and restarted must not send the same due run again.
CELERY_BEAT_SYNC_EVERY = 1
_xdist = os.environ.get("PYTEST_XDIST_WORKER")
CELERY_TASK_DEFAULT_QUEUE = f"celery-{_xdist}" if _xdist else env_str("CELERY_QUEUE", "celery")
# Dispatch and sync work each on a queue of its own (leapportal/queues.py): a long full sync never
# delays dispatch processing. Names derive from the default queue.
QUEUE_NAMES = celery_queues.names(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_ROUTES = celery_queues.routes(QUEUE_NAMES)

# How often each worker records a heartbeat; sync health calls a worker stale after three misses.
WORKER_HEARTBEAT_SECONDS = 60
# A worker also beats once as soon as it is ready (not only at beat's next tick). The test suite's
# workers turn it off: tests there count the beats they send.
WORKER_STARTUP_HEARTBEAT = env_bool("WORKER_STARTUP_HEARTBEAT", default=True)

# --- onboarding (create meters at Leap) -------------------------------------------------------

# Assets per create-meters job. Leap publishes no limit; the client refuses more than
# leap.create_meters.MAX_JOB_ASSETS (1,000) and a larger file is split into several jobs.
ONBOARDING_BATCH_SIZE = env_int("ONBOARDING_BATCH_SIZE", default=500, minimum=1)
if ONBOARDING_BATCH_SIZE > 1000:
    raise ImproperlyConfigured("ONBOARDING_BATCH_SIZE must be at most 1000 (assets per Leap job)")
# Each open Leap job is read once per this many seconds (a beat task; backoff when Leap is down).
ONBOARDING_POLL_SECONDS = env_int("ONBOARDING_POLL_SECONDS", default=30, minimum=5)
# Client retries of one read or send inside a round (the round itself is the outer retry).
ONBOARDING_POLL_RETRIES = env_int("ONBOARDING_POLL_RETRIES", default=2, minimum=0)
# A created meter in one step before ACTIVE for longer than this shows in the action queue.
ONBOARDING_STUCK_DAYS = env_int("ONBOARDING_STUCK_DAYS", default=14, minimum=1)
ONBOARDING_MAX_BYTES = env_int("ONBOARDING_MAX_BYTES", default=25 * 1024 * 1024, minimum=1024)
ONBOARDING_MAX_ROWS = env_int("ONBOARDING_MAX_ROWS", default=50_000, minimum=1)

# The whole beat schedule, in one place (leapportal/conf.py). `manage.py install_schedules` (run by
# migrate's post_migrate signal too) copies it into django-celery-beat, where admins may edit it; an
# entry already there keeps its edited timing.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = conf.beat_schedule(
    onboarding_poll_seconds=ONBOARDING_POLL_SECONDS,
    worker_heartbeat_seconds=WORKER_HEARTBEAT_SECONDS,
)

# --- revenue -------------------------------------------------------------------------------------

# The revenue sync checks this many complete months back for new report versions (Leap keeps
# the reports of about two years; reports are monthly).
REVENUE_SYNC_MONTHS = env_int("REVENUE_SYNC_MONTHS", default=12, minimum=1)

# --- dispatch ------------------------------------------------------------------------------------

# A dispatch notification larger than this is refused with 413 (and its first bytes kept).
DISPATCH_WEBHOOK_MAX_BYTES = env_int(
    "DISPATCH_WEBHOOK_MAX_BYTES", default=2 * 1024 * 1024, minimum=1024
)
# The drain applies up to this many waiting deliveries in one transaction. Batches are only this
# large when a backlog has built up, and then they catch up faster: each transaction's fixed cost
# and each meter's re-planning are shared by more notifications (bench/dispatch_cpu.py, 10,000
# notifications: 2.33 ms CPU each at 100, 1.69 at 500).
DISPATCH_PROCESS_BATCH = env_int("DISPATCH_PROCESS_BATCH", default=500, minimum=1)
# After a batch that emptied the queue, the drain's next look waits until this long after the
# last began, so that a steady stream is applied ~60 at a time at 200/s, not one by one
# (dispatch/inbox.py, process_waiting). At most this much later visible; 0 looks again at once.
# 0.3 rather than 0.1 (2026-12-07, docs/benchmarks.md runs 47-55): bench/webhook_load.py at
# 200/s, two runs each, 0.1 -> 0.25 s: the worker's CPU 2.06/2.15 -> 1.86/1.92 ms a notification
# and PostgreSQL's 2.58/2.69 -> 1.92/2.26; bench/mixed_load.py at 0.3 s: receipt-to-visible p95
# 0.29 s alone and 0.34-0.39 s under full load (target: 2 s).
DISPATCH_DRAIN_LINGER_SECONDS = env_float("DISPATCH_DRAIN_LINGER_SECONDS", default=0.3, minimum=0)
# Reconcile polls Leap's dispatch searches over [now - lookback, now + ahead).
DISPATCH_RECONCILE_LOOKBACK_HOURS = env_int(
    "DISPATCH_RECONCILE_LOOKBACK_HOURS", default=6, minimum=0
)
DISPATCH_RECONCILE_AHEAD_HOURS = env_int("DISPATCH_RECONCILE_AHEAD_HOURS", default=48, minimum=1)
# How a group dispatch's energy is split over its members: a dotted path to a function
# (see dispatch/planning.py, equal_share).
DISPATCH_GROUP_SPLIT = env_str("DISPATCH_GROUP_SPLIT", "dispatch.planning.equal_share")
# Outbound (hand-on) webhooks: seconds to wait before each retry; after the last, the message fails.
try:
    DISPATCH_OUTBOUND_RETRY_DELAYS = [
        int(x)
        for x in env_list(
            "DISPATCH_OUTBOUND_RETRY_DELAYS", ["10", "30", "60", "300", "900", "3600"]
        )
    ]
except ValueError:
    raise ImproperlyConfigured(
        "DISPATCH_OUTBOUND_RETRY_DELAYS must be comma-separated whole seconds"
    ) from None
DISPATCH_OUTBOUND_TIMEOUT_SECONDS = env_float(
    "DISPATCH_OUTBOUND_TIMEOUT_SECONDS", default=10.0, minimum=0.1
)

# --- dashboard -----------------------------------------------------------------------------------

# Pages show a banner when the last good meter sync or dispatch reconcile is older than this.
DASHBOARD_SYNC_STALE_MINUTES = env_int("DASHBOARD_SYNC_STALE_MINUTES", default=45, minimum=1)
DASHBOARD_DISPATCH_STALE_MINUTES = env_int(
    "DASHBOARD_DISPATCH_STALE_MINUTES", default=10, minimum=1
)

# A bulk change of the action queue over this many actions is queued and applied by a worker
# (ops.tasks.apply_bulk_update, default queue) while the page follows its progress; smaller ones
# are applied inside the request. 0 queues every bulk change.
OPS_BULK_INLINE_MAX = env_int("OPS_BULK_INLINE_MAX", default=200, minimum=0)

# --- email, alerts and customer outreach (alerts/) ----------------------------------------------

# How email leaves: "smtp" (production: the EMAIL_HOST settings), "file" (one file per message in
# EMAIL_FILE_PATH: `make demo`'s default, nothing is sent) or "console" (printed by the process).
EMAIL_BACKEND = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}[env_choice("EMAIL_BACKEND", ("smtp", "file", "console"), default="smtp")]
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", default=25, minimum=1)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)  # STARTTLS on a plain port (587)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)  # TLS from the start (465)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true")
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", default=20, minimum=1)
EMAIL_FILE_PATH = str(BASE_DIR / env_str("EMAIL_FILE_PATH", "var/mail"))
DEFAULT_FROM_EMAIL = env_str("EMAIL_FROM", "leapportal <leapportal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Alert causes: a partner action is "new" for this long; dispatches starting within this many hours
# are checked for members that are not ACTIVE or not mapped; this many refused webhook requests
# within the window (per receiver) is a spike.
ALERTS_NEW_ACTION_HOURS = env_int("ALERTS_NEW_ACTION_HOURS", default=24, minimum=1)
ALERTS_DISPATCH_LOOKAHEAD_HOURS = env_int("ALERTS_DISPATCH_LOOKAHEAD_HOURS", default=6, minimum=1)
ALERTS_WEBHOOK_SPIKE_COUNT = env_int("ALERTS_WEBHOOK_SPIKE_COUNT", default=20, minimum=1)
ALERTS_WEBHOOK_SPIKE_MINUTES = env_int("ALERTS_WEBHOOK_SPIKE_MINUTES", default=15, minimum=1)
# A failed email or chat post is tried again after each of these delays (seconds); after the last
# it is marked failed, stays visible on sync health and can be retried by hand.
try:
    NOTIFY_RETRY_DELAYS = [
        int(x) for x in env_list("NOTIFY_RETRY_DELAYS", ["60", "300", "900", "3600", "10800"])
    ]
except ValueError:
    raise ImproperlyConfigured(
        "NOTIFY_RETRY_DELAYS must be comma-separated whole seconds"
    ) from None
NOTIFY_CHAT_TIMEOUT_SECONDS = env_float("NOTIFY_CHAT_TIMEOUT_SECONDS", default=10.0, minimum=0.1)
# The same customer is not emailed twice for the same action within this many hours.
OUTREACH_RESEND_GUARD_HOURS = env_int("OUTREACH_RESEND_GUARD_HOURS", default=72, minimum=0)

# --- logging -------------------------------------------------------------------------------------

LOG_LEVEL = env_choice(
    "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO" if not TESTING else "WARNING"
)
LOGGING = conf.logging_config(LOG_LEVEL)
