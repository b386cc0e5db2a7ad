"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
# thread with a running loop unless told otherwise. Tests only, never in settings.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "chromium_sandbox": False,
    }


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI=true but no Chromium at {CHROMIUM}: apt-get install chromium")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def make_user(db, django_user_model):
    """make_user("operator") -> a user in that role's group (password "pw")."""
    from django.contrib.auth.models import Group

    def make(role: str | None = None, username: str | None = None, **extra):
        user = django_user_model.objects.create_user(
            username=username or f"{role or 'nobody'}-user", password="pw", **extra
        )
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def viewer_client(client, make_user):
    client.force_login(make_user("viewer"))
    return client


@pytest.fixture
def operator_client(client, make_user):
    client.force_login(make_user("operator"))
    return client


@pytest.fixture
def admin_client_role(client, make_user):
    """A client logged in as a member of the admin role (not a superuser)."""
    client.force_login(make_user("admin", is_staff=True))
    return client
