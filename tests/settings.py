"""Test settings: the real settings, with only what tests need changed."""

from __future__ import annotations

from leapportal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
SECURE_SSL_REDIRECT = False
