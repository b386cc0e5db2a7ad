"""Every page needs a login, and each role can do what it may and nothing more.

The URL list is discovered from the resolver (tests/foundation/urlwalk.py), so pages added by any
app are covered without touching this file. A view that must be public goes in PUBLIC below, with
the reason, and must be marked `login_not_required`.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import OperationalError, connection
from django.urls import Resolver404, resolve, reverse

from leapportal import roles
from tests.foundation.urlwalk import walk

# URL name -> why anonymous visitors may reach it. Token-authenticated endpoints are listed under
# TOKEN_PROTECTED as well: an anonymous GET with a made-up token must still be refused.
PUBLIC = {
    "login": "the login page",
    "admin:login": "the admin's login page",
    "healthz": "load balancer probe; says only 'ok'",
    "favicon": "the site icon; browsers ask for it on any page, logged in or not",
    "dispatch:ical": "calendar apps cannot log in: a per-user token in the URL authenticates",
    # Leap's webhook receivers authenticate with the shared secret header, not a session.
    "meters:webhook": "Leap's meter webhook receiver (secret header)",
    "dispatch:webhook_meter": "Leap's meter-level dispatch webhook receiver (secret header)",
    "dispatch:webhook_group": "Leap's group-level dispatch webhook receiver (secret header)",
    "dispatch:webhook": "Leap's dispatch webhook receiver (secret header)",
    "dispatch:feed": "JSON feed for other systems, behind its API token",
    # The mapping API (mapping/api.py): other systems send a per-system bearer token.
    "api:meters": "mapping JSON API for other systems, behind its API token",
    "api:meter": "mapping JSON API for other systems, behind its API token",
    "api:meter_mapping": "mapping JSON API for other systems, behind its API token",
}
TOKEN_PROTECTED = {"dispatch:ical", "dispatch:feed", "api:meters", "api:meter", "api:meter_mapping"}
REFUSED = {401, 403, 405}


def is_login_redirect(response) -> bool:
    """A redirect to the login page (ours or the admin's)."""
    if response.status_code not in (301, 302):
        return False
    location = response["Location"]
    return location.startswith(reverse(settings.LOGIN_URL)) or location.startswith(
        reverse("admin:login")
    )


ROUTES = list(walk())


def test_the_walk_finds_every_app_and_each_path_resolves():
    names = {route.name for route in ROUTES}
    assert {"home", "healthz", "login", "logout", "admin:index"} <= names
    assert len(ROUTES) > 20
    unresolved = []
    for route in ROUTES:
        try:
            resolve(route.path)
        except Resolver404:
            unresolved.append(f"{route.name}: {route.path}")
    assert not unresolved, "sample paths that do not resolve:\n" + "\n".join(unresolved)


def test_only_allow_listed_views_are_public():
    public = sorted({r.name for r in ROUTES if not r.login_required} - set(PUBLIC))
    assert not public, (
        "these views are marked login_not_required but are not in PUBLIC of "
        f"tests/foundation/test_access.py (add them there with the reason): {public}"
    )


@pytest.mark.django_db
def test_every_page_refuses_anonymous_visitors(client):
    failures = []
    for route in ROUTES:
        response = client.get(route.path)
        if route.name in PUBLIC and route.name not in TOKEN_PROTECTED:
            continue
        if route.name in TOKEN_PROTECTED:
            for answer in (response, client.post(route.path)):
                if answer.status_code < 400:
                    failures.append(
                        f"{route.name} {route.path}: {answer.status_code} without token"
                    )
            continue
        if not (is_login_redirect(response) or response.status_code in REFUSED):
            failures.append(f"{route.name} {route.path}: {response.status_code}")
    assert not failures, "pages an anonymous visitor got:\n" + "\n".join(failures)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_user_without_a_role_is_refused_everywhere(client, make_user, method):
    """Every view checks a role permission: logging in alone gives nothing."""
    client.force_login(make_user(None, username="nobody"))
    failures = []
    for route in ROUTES:
        if route.name in PUBLIC or route.name in {"logout", "admin:logout"}:
            continue
        response = getattr(client, method)(route.path)
        if not (is_login_redirect(response) or response.status_code in REFUSED):
            failures.append(f"{method.upper()} {route.name} {route.path}: {response.status_code}")
    assert not failures, (
        "a logged-in user with no role got these (check a leapportal.roles permission "
        "before anything else):\n" + "\n".join(failures)
    )


def _labels(permissions) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


@pytest.mark.django_db
def test_the_groups_hold_exactly_the_role_permissions():
    role_labels = set(roles.ROLE_PERMISSIONS[roles.ADMIN])  # every role permission there is
    every_model_permission = (
        _labels(Permission.objects.exclude(content_type__app_label__in=roles.ADMIN_EXCLUDED_APPS))
        - role_labels
    )
    for role, labels in roles.ROLE_PERMISSIONS.items():
        held = _labels(Group.objects.get(name=role).permissions.select_related("content_type"))
        assert held & role_labels == set(labels), role
        # Model permissions (the Django admin's) belong to the admin role alone.
        expected_models = every_model_permission if role == roles.ADMIN else set()
        assert held - role_labels == expected_models, role


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (roles.VIEWER, {roles.VIEW}),
        (roles.OPERATOR, {roles.VIEW, roles.WORK_QUEUE, roles.START_SYNC}),
        (roles.ADMIN, set(roles.ROLE_PERMISSIONS[roles.ADMIN])),
        (None, set()),
    ],
)
def test_each_role_holds_its_permissions_and_no_other(make_user, role, allowed):
    user = make_user(role)
    every = {roles.VIEW, roles.WORK_QUEUE, roles.START_SYNC, roles.EDIT_MAPPING}
    every.add(roles.MANAGE_SETTINGS)
    assert {perm for perm in every if user.has_perm(perm)} == allowed


@pytest.mark.django_db
def test_migrate_keeps_the_groups_in_line_with_the_table(make_user):
    viewer = Group.objects.get(name=roles.VIEWER)
    viewer.permissions.add(Permission.objects.get(codename="manage_settings"))  # a stray edit

    call_command("migrate", verbosity=0)

    assert {p.codename for p in viewer.permissions.all()} == {"view_dashboard"}


def test_viewer_reads_the_overview(viewer_client):
    response = viewer_client.get("/")
    assert response.status_code == 200
    assert b"<h1>Overview</h1>" in response.content


def test_every_script_and_style_is_served_by_the_app_once(viewer_client):
    html = viewer_client.get("/").content.decode()
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert "/static/django_htmx/htmx-2.min.js" in assets
    assert "/static/css/app.css" in assets
    assert all(url.startswith("/static/") for url in assets), assets  # no CDN
    assert len(assets) == len(set(assets)), assets


@pytest.mark.django_db
@pytest.mark.parametrize("role", [roles.VIEWER, roles.OPERATOR, None])
def test_the_django_admin_is_closed_to_everyone_but_admins(client, make_user, role):
    # Even a staff flag set by hand does not open the admin: the role decides.
    client.force_login(make_user(role, is_staff=True))

    for path in ("/admin/", "/admin/django_celery_beat/periodictask/", "/admin/auth/user/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/"), path
    assert b"Admin</a>" not in client.get("/").content


@pytest.mark.django_db
def test_the_admin_role_uses_the_django_admin(client, make_user):
    client.force_login(make_user(roles.ADMIN))  # no is_staff needed: the role is what counts

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 200
    assert b'href="/admin/"' in client.get("/").content


@pytest.mark.django_db
def test_the_admin_login_form_admits_by_role_not_by_staff_flag(client, make_user):
    make_user(roles.ADMIN, username="ada")
    make_user(roles.OPERATOR, username="otto", is_staff=True)

    refused = client.post("/admin/login/", {"username": "otto", "password": "pw"})
    assert refused.status_code == 200 and b"errornote" in refused.content
    admitted = client.post("/admin/login/?next=/admin/", {"username": "ada", "password": "pw"})
    assert admitted.status_code == 302 and admitted["Location"] == "/admin/"


@pytest.mark.django_db
def test_healthz_answers_plain_http_while_pages_redirect_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    probe = client.get("/healthz")
    assert probe.status_code == 200 and probe.json() == {"status": "ok"}
    page = client.get("/accounts/login/")
    assert page.status_code == 301 and page["Location"].startswith("https://")
    behind_proxy = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert behind_proxy.status_code == 200


@pytest.mark.django_db
def test_healthz_says_503_when_the_database_is_unreachable(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "database unavailable"}
