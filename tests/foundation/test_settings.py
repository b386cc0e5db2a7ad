"""Settings come from the environment; nonsense stops the process at start-up, naming the variable."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import REPO

LOAD_SETTINGS = "import django; django.setup(); from django.conf import settings; print('ok')"

# What a production process gets (DEBUG off): every secret set, nothing borrowed from development.
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "portal.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://portal.example.com",
    "DATABASE_URL": "postgresql://portal:pw@db.internal:5432/leapportal",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "LEAP_ENVIRONMENT": "production",
    "LEAP_API_KEY": "lk_live_" + secrets.token_hex(24),
    "LEAP_METER_WEBHOOK_SECRETS": secrets.token_urlsafe(32),
    "LEAP_DISPATCH_WEBHOOK_SECRETS": secrets.token_urlsafe(32),
    "PUBLIC_BASE_URL": "https://portal.example.com",
}


def run_django(code_or_args: str | list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Run Python in a fresh process with only PATH/HOME from our env plus `env`."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**base, "DJANGO_SETTINGS_MODULE": "leapportal.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_production_environment_loads():
    result = run_django(LOAD_SETTINGS, **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


BAD = [
    # (variable, value(s) layered over the production env, text the error must contain)
    ("DEBUG", {"DEBUG": "maybe"}, "DEBUG must be true or false, got 'maybe'"),
    ("SECRET_KEY", {"SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is false"),
    ("SECRET_KEY", {"SECRET_KEY": "short-key"}, "SECRET_KEY must be at least 50 characters"),
    ("ALLOWED_HOSTS", {"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must list at least one host"),
    ("DATABASE_URL", {"DATABASE_URL": "mysql://root@db/portal"}, "DATABASE_URL must be a postgre"),
    ("DATABASE_URL", {"DATABASE_URL": "sqlite:///db.sqlite3"}, "SQLite is not supported"),
    ("DATABASE_URL", {"DATABASE_URL": ""}, "DATABASE_URL must be set when DEBUG is false"),
    ("DATABASE_URL", {"DATABASE_URL": "postgresql://db.internal"}, "DATABASE_URL must name a"),
    ("CELERY_BROKER_URL", {"CELERY_BROKER_URL": "foo://x"}, "CELERY_BROKER_URL must be a redis"),
    ("CELERY_RESULT_BACKEND", {"CELERY_RESULT_BACKEND": "mongodb://x"}, "CELERY_RESULT_BACKEND"),
    ("LEAP_ENVIRONMENT", {"LEAP_ENVIRONMENT": "dev"}, "LEAP_ENVIRONMENT must be one of staging"),
    ("LEAP_API_KEY", {"LEAP_API_KEY": ""}, "LEAP_API_KEY must be set when LEAP_SIMULATOR is"),
    ("LEAP_API_KEY", {"LEAP_API_KEY": "lk live 123"}, "LEAP_API_KEY must not contain spaces"),
    ("LEAP_SIMULATOR", {"LEAP_SIMULATOR": "true"}, "LEAP_SIMULATOR must be false when"),
    ("LEAP_BASE_URL", {"LEAP_BASE_URL": "api.leap.energy"}, "LEAP_BASE_URL must be a URL"),
    ("LEAP_TIMEOUT_SECONDS", {"LEAP_TIMEOUT_SECONDS": "abc"}, "LEAP_TIMEOUT_SECONDS must be a"),
    ("LEAP_TIMEOUT_SECONDS", {"LEAP_TIMEOUT_SECONDS": "0"}, "LEAP_TIMEOUT_SECONDS must be at"),
    ("LEAP_MAX_RETRIES", {"LEAP_MAX_RETRIES": "-1"}, "LEAP_MAX_RETRIES must be at least 0"),
    ("LEAP_MAX_RETRIES", {"LEAP_MAX_RETRIES": "2.5"}, "LEAP_MAX_RETRIES must be a whole number"),
    (
        "LEAP_METER_WEBHOOK_SECRETS",
        {"LEAP_METER_WEBHOOK_SECRETS": "tooshort"},
        "every value in LEAP_METER_WEBHOOK_SECRETS must be at least 16 characters",
    ),
    (
        "LEAP_DISPATCH_WEBHOOK_SECRETS",
        {"LEAP_DISPATCH_WEBHOOK_SECRETS": ""},
        "LEAP_DISPATCH_WEBHOOK_SECRETS must be set when DEBUG is false",
    ),
    ("LEAP_WEBHOOK_HEADER", {"LEAP_WEBHOOK_HEADER": "x secret"}, "LEAP_WEBHOOK_HEADER must be"),
    ("PUBLIC_BASE_URL", {"PUBLIC_BASE_URL": "portal.example.com"}, "PUBLIC_BASE_URL must be a"),
    ("SECURE_HSTS_SECONDS", {"SECURE_HSTS_SECONDS": "-5"}, "SECURE_HSTS_SECONDS must be at"),
    ("SECURE_COOKIES", {"SECURE_COOKIES": "sometimes"}, "SECURE_COOKIES must be true or false"),
    ("LOG_LEVEL", {"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of DEBUG"),
]


@pytest.mark.parametrize(("variable", "override", "message"), BAD, ids=[b[0] for b in BAD])
def test_nonsense_fails_at_start_up_naming_the_variable(variable, override, message):
    result = run_django(LOAD_SETTINGS, **{**PRODUCTION_ENV, **override})

    assert result.returncode != 0, f"{variable}={override[variable]!r} was accepted"
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    assert variable in last_line and message in last_line, last_line


def test_production_settings_pass_check_deploy_without_a_warning():
    result = run_django(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION_ENV
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_security_settings_are_on():
    result = run_django(
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.LEAP_BASE_URL, s.DEBUG)",
        **PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') https://api.leap.energy False"
    )
