"""What the demo journey (test_demo_journey.py) found, each pinned by a quick test of its own."""

from __future__ import annotations

import uuid

import pytest

from mapping import imports
from meters.models import Meter

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported_meter(make_user):
    """A meter mapped by an applied CSV import (as the demo's seeding maps most meters)."""
    meter = Meter.objects.create(meter_id=uuid.uuid4(), partner_reference="CA-PGE-1")
    admin = make_user("admin", username="ada")
    raw = f"meter_id,partner_reference,customer_id,site_id,label\n{meter.pk},,C-1,S-1,Orchard\n"
    upload = imports.preview_upload(raw.encode(), filename="m.csv", uploaded_by=admin)
    imports.apply_import(upload.pk, actor=admin, reason="initial load")
    return meter, upload


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_role_that_may_not_open_imports_sees_the_import_named_not_linked(
    client, make_user, imported_meter, role
):
    meter, upload = imported_meter
    client.force_login(make_user(role))

    html = client.get(f"/mapping/meters/{meter.pk}/").content.decode()

    assert f"#{upload.pk}" in html
    assert f"/mapping/import/{upload.pk}/" not in html  # it would answer 403


def test_an_admin_follows_the_mapping_history_to_the_import(client, make_user, imported_meter):
    meter, upload = imported_meter
    client.force_login(make_user("admin", username="adam"))

    html = client.get(f"/mapping/meters/{meter.pk}/").content.decode()

    assert f'href="/mapping/import/{upload.pk}/"' in html
    assert client.get(f"/mapping/import/{upload.pk}/").status_code == 200


def test_a_refused_page_keeps_the_portal_around_it(client, make_user):
    client.force_login(make_user("viewer", username="vic"))

    response = client.get("/mapping/import/")

    assert response.status_code == 403
    html = response.content.decode()
    assert "Not allowed" in html and 'nav class="mainnav"' in html
    assert 'rel="icon"' in html  # else the browser asks for /favicon.ico: a 404 in the console


def test_the_django_admin_names_our_icon(client, make_user):
    client.force_login(make_user("admin", username="adele"))

    for path in ("/admin/", "/admin/meters/meter/", "/admin/auth/user/add/"):
        html = client.get(path).content.decode()
        assert 'rel="icon" href="/static/img/favicon.svg"' in html, path
