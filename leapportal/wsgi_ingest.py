"""WSGI entry of the receivers' own pool: `gunicorn leapportal.wsgi_ingest:application`.

The same code and settings as leapportal.wsgi, with two differences for this process only:
the URL conf holds nothing but Leap's webhook receivers (leapportal/ingest_urls.py), and the
middleware chain is INGEST_MIDDLEWARE (leapportal/conf.py): the security headers, the NUL-byte
and Host checks, and none of what a page needs (static files, sessions, CSRF, login, messages,
htmx, login throttling). The receivers authenticate by their shared secret and are exempt from
all of those anyway; at 200 notifications a second the full chain cost the receivers' pool about
a sixth of its CPU (a py-spy profile, docs/benchmarks.md). The settings are changed here, before
the handler is built, because this process serves nothing else; a DJANGO_SETTINGS_MODULE in the
environment is honoured as in leapportal.wsgi.

It also runs without CONN_HEALTH_CHECKS: instead of a `SELECT 1` before every request's first
query, the receivers and /healthz reconnect once when a kept connection turns out dead
(leapportal.receivers.on_a_live_connection), so a PostgreSQL restart still costs no 5xx.
"""

from __future__ import annotations

import os

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from leapportal import conf

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")
django.setup(set_prefix=False)
settings.MIDDLEWARE = conf.INGEST_MIDDLEWARE
settings.ROOT_URLCONF = "leapportal.ingest_urls"
# Before any connection exists: each thread's connection reads it when it connects.
settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
application = WSGIHandler()
