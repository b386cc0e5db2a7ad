"""Test settings: the real settings, with only what tests need changed."""

from __future__ import annotations

import os

from leapportal import queues as celery_queues
from leapportal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
SECURE_SSL_REDIRECT = False
# Each pytest process (each xdist worker too) has its own queue, so two runs sharing one Redis db
# never take each other's tasks. The real worker of tests/conftest.py gets the name in CELERY_QUEUE.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE") or f"lp-test-{os.getpid()}"
# ...and so are its dispatch and sync queues (lp-test-<pid>-dispatch, -sync).
QUEUE_NAMES = celery_queues.names(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_ROUTES = celery_queues.routes(QUEUE_NAMES)
# Django's PostgreSQL backend with a flush that DELETEs from the tables a test wrote to instead of
# TRUNCATing all of them (tests/pgbackend/base.py): a transactional test's teardown in ~0.1 s.
DATABASES["default"]["ENGINE"] = "tests.pgbackend"  # noqa: F405
# ...and whose flush command puts back what post_migrate wrote from a copy instead of sending it
# again (tests/pgbackend/management/commands/flush.py).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.pgbackend"]  # noqa: F405
