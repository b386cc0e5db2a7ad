"""The security review's findings (issue 15), each pinned by a test that failed before the fix."""

from __future__ import annotations

import csv
import io
import json
import secrets
import uuid

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from dispatch.models import DispatchDelivery
from leapportal.management.commands.leap_simulator import _shown_key
from leapportal.models import CalendarToken, Receiver, WebhookAuthFailure
from mapping import imports
from mapping.actions import set_mapping
from mapping.models import ApiToken, MappingChange
from meters.models import ReasonCode, WebhookDelivery
from tests.dashboard.factories import make_action, make_group, make_meter
from tests.foundation.test_settings import LOAD_SETTINGS, PRODUCTION_ENV, run_django

pytestmark = pytest.mark.django_db

METER_SECRET = settings.LEAP_METER_WEBHOOK_SECRETS[0]
DISPATCH_SECRET = settings.LEAP_DISPATCH_WEBHOOK_SECRETS[0]
HEADER = settings.LEAP_WEBHOOK_HEADER


def meter_event(**payload) -> bytes:
    body = {
        "webhook_event_id": str(uuid.uuid4()),
        "payload": {
            "webhook_event_type": "meter.created",
            "meter_id": str(uuid.uuid4()),
            **payload,
        },
    }
    return json.dumps(body).encode()


# --- High 1: duplicates in a mapping file ---------------------------------------------------------


def test_a_mapping_file_of_repeated_rows_costs_memory_in_proportion_to_its_lines():
    meter = make_meter()
    repeats = 3000
    raw = ("meter_id,partner_reference,customer_id,site_id,label\n" + "".join(
        f"{meter.pk},,C-1,S-1,row\n" for _ in range(repeats)
    )).encode()  # fmt: skip

    plan = imports.make_plan(raw)

    assert len(plan.rows) == repeats and all(r.outcome == "error" for r in plan.rows)
    messages = [m for r in plan.rows for m in r.messages if m.startswith("duplicate")]
    assert len(messages) == repeats
    # Before: every row carried all 3,000 line numbers (18 kB a row, quadratic in total).
    assert max(len(m) for m in messages) < 200
    assert messages[0] == (
        f"duplicate: meter {meter.pk} is on lines 2, 3, 4, 5, 6 and {repeats - 5:,} more"
    )
    # One shared text, not a copy per row.
    assert len({id(m) for m in messages}) == 1


def test_two_duplicate_rows_still_name_both_lines():
    meter = make_meter()
    raw = (
        "meter_id,partner_reference,customer_id,site_id,label\n"
        f"{meter.pk},,C-1,S-1,\n{meter.pk},,C-1,S-1,\n"
    ).encode()
    plan = imports.make_plan(raw)
    assert f"duplicate: meter {meter.pk} is on lines 2, 3" in plan.rows[0].messages


# --- Medium 3 and the content type: the receivers ----------------------------------------------


def test_refused_meter_webhooks_are_counted_and_store_nothing(client, admin_client_role):
    for presented in ("", "wrong-secret-0000000000", ""):
        headers = {HEADER: presented} if presented else {}
        response = client.post(
            "/meters/webhooks/leap", meter_event(), content_type="application/json",
            headers=headers,
        )  # fmt: skip
        assert response.status_code == 401

    assert not WebhookDelivery.objects.exists()
    counter = WebhookAuthFailure.objects.get(level=Receiver.METER_EVENTS)
    assert counter.count == 3 and counter.last_reason == "missing secret"
    page = admin_client_role.get("/meters/sync/").content.decode()
    row = page.split("<td>Meter events</td>")[1].split("</tr>")[0]
    assert row.rstrip().endswith('<td class="num">3</td>')


def test_the_meter_receiver_bounds_the_body_it_reads(client, settings):
    settings.METERS_WEBHOOK_MAX_BYTES = 2048
    body = meter_event(padding="x" * 50_000)
    response = client.post(
        "/meters/webhooks/leap", body, content_type="application/json",
        headers={HEADER: METER_SECRET},
    )  # fmt: skip
    assert response.status_code == 413
    kept = WebhookDelivery.objects.get()
    assert kept.status == "rejected" and len(kept.body) == 2048
    assert "larger than 2048 bytes" in kept.error


def test_a_meter_event_with_a_nul_byte_is_rejected_and_kept_not_a_500(client):
    response = client.post(
        "/meters/webhooks/leap", b'{"webhook_event_id": "\x00"}', content_type="application/json",
        headers={HEADER: METER_SECRET},
    )  # fmt: skip
    assert response.status_code == 400
    kept = WebhookDelivery.objects.get()
    assert kept.status == "rejected" and "\ufffd" in kept.body


@pytest.mark.parametrize(
    ("path", "secret", "body"),
    [
        ("/meters/webhooks/leap", METER_SECRET, meter_event()),
        ("/dispatch/webhooks/meter", DISPATCH_SECRET, b'{"meter_dispatches": []}'),
        ("/dispatch/webhooks/group", DISPATCH_SECRET, b'{"group_dispatches": []}'),
    ],
    ids=["meter-events", "dispatch-meter", "dispatch-group"],
)
def test_both_receivers_take_only_json(client, path, secret, body):
    wrong = client.post(path, body, content_type="text/plain", headers={HEADER: secret})
    assert wrong.status_code == 415
    assert "Content-Type must be application/json, got text/plain" in wrong.json()["error"]
    form = client.post(path, {"a": "b"}, headers={HEADER: secret})  # multipart form
    assert form.status_code == 415
    rejected = (
        WebhookDelivery.objects.filter(status="rejected").count()
        + DispatchDelivery.objects.filter(status="rejected").count()
    )
    assert rejected == 2  # kept for inspection
    ok = client.post(
        path, body, content_type="application/json; charset=utf-8", headers={HEADER: secret}
    )
    assert ok.status_code == 202, ok.content


# --- Medium 4: CSV formula injection -------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(content)))


def test_the_meter_export_defuses_formulas_in_list_cells(viewer_client):
    make_meter(tags=["=HYPERLINK(\"http://x\")", "b"], load_types=["+1", "HVAC"],
               end_customer_name="@SUM(A1)")  # fmt: skip
    rows = read_csv(viewer_client.get("/meters/export.csv"))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["tags"] == '\'=HYPERLINK("http://x") b'
    assert row["load_types"] == "'+1 HVAC"
    assert row["end_customer_name"] == "'@SUM(A1)"


def test_the_mapping_export_defuses_leaps_reference_and_imports_back_unchanged(admin_client_role):
    meter = make_meter(partner_reference="=cmd|' /C calc'!A0")
    user = admin_client_role.get("/").wsgi_request.user
    set_mapping(meter.pk, customer_id="C-1", site_id="S-1", label="5 kW pump", actor=user,
                reason="=1+1 typed by hand", source=MappingChange.Source.PAGE)  # fmt: skip

    exported = b"".join(admin_client_role.get("/mapping/export.csv").streaming_content)
    rows = list(csv.reader(io.StringIO(exported.decode())))
    assert rows[1][1] == "'=cmd|' /C calc'!A0"
    plan = imports.make_plan(exported)
    assert [r.outcome for r in plan.rows] == ["unchanged"]

    audit = read_csv(admin_client_role.get("/mapping/audit.csv"))
    reason = audit[1][audit[0].index("reason")]
    assert reason == "'=1+1 typed by hand"
    assert MappingChange.objects.get().reason == "=1+1 typed by hand"


def test_the_group_csv_file_name_survives_any_group_name(viewer_client):
    group = make_group(name='PG "North"\r\nSet-Cookie: x=1')
    response = viewer_client.get(f"/groups/{group.pk}/members.csv", {"day": "0"})
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert "\n" not in disposition and "\r" not in disposition
    plain = disposition.split('filename="')[1].split('"')[0]
    assert plain.startswith("group-PG-North-Set-Cookie-x-1-") and plain.endswith(".csv")


# --- Medium 5: the committed dev secrets ----------------------------------------------------------


def test_a_production_process_talking_to_the_simulator_needs_its_own_webhook_secrets():
    env = {**PRODUCTION_ENV, "LEAP_ENVIRONMENT": "staging", "LEAP_SIMULATOR": "true"}
    del env["LEAP_METER_WEBHOOK_SECRETS"], env["LEAP_API_KEY"]
    result = run_django(LOAD_SETTINGS, **env)
    assert result.returncode != 0
    assert "LEAP_METER_WEBHOOK_SECRETS must be set when DEBUG is false" in result.stderr


# --- Low -------------------------------------------------------------------------------------------


def test_an_email_from_leap_cannot_add_recipients_to_a_mailto_link(viewer_client):
    meter = make_meter(end_customer_email="a@b.example?bcc=spy@evil.example")
    action = make_action(meter)
    page = viewer_client.get(f"/meters/{meter.pk}/").content.decode()
    assert "a@b.example?bcc=spy@evil.example" in page  # still shown, as text
    assert 'href="mailto:' not in page
    detail = viewer_client.get(f"/actions/{action.pk}/").content.decode()
    assert "mailto:" not in detail

    good = make_meter(end_customer_email="pat@example.com")
    assert 'href="mailto:pat@example.com"' in viewer_client.get(f"/meters/{good.pk}/").text


def test_a_reason_code_link_must_be_http(viewer_client):
    action = make_action(make_meter())
    ReasonCode.objects.update_or_create(
        code=action.code, defaults={"link": "javascript:alert(document.cookie)",
                                    "guidance": "Do it"},
    )  # fmt: skip
    page = viewer_client.get(f"/actions/{action.pk}/").content.decode()
    assert "javascript:" not in page
    ReasonCode.objects.filter(code=action.code).update(link="https://docs.example.com/x")
    assert 'href="https://docs.example.com/x"' in viewer_client.get(f"/actions/{action.pk}/").text


@pytest.mark.parametrize("path", ["/actions/", "/groups/", "/dispatch/", "/meters/", "/mapping/"])
def test_a_nul_byte_in_a_query_is_a_400_not_a_500(viewer_client, path):
    for query in ({"q": "pump\x00"}, {"state": "\x00"}, {"region\x00": "CAISO"}):
        response = viewer_client.get(path, query)
        assert response.status_code == 400, (path, query)


def test_database_connections_are_checked_before_reuse():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 60


def test_the_simulator_command_refuses_production_settings_and_never_prints_the_key():
    real_key = "lk_live_" + secrets.token_hex(24)
    env = {**PRODUCTION_ENV, "LEAP_API_KEY": real_key}
    result = run_django(["manage.py", "leap_simulator", "--port", "0", "--meters", "5"], **env)
    assert result.returncode != 0
    assert "leap_simulator is for development only" in result.stderr
    assert real_key not in result.stdout + result.stderr


def test_the_simulator_command_shows_only_the_start_of_a_key_that_is_not_its_own():
    assert _shown_key("simulator-key-0000000000000000", "simulator-key-0000000000000000") == (
        "simulator-key-0000000000000000"
    )
    assert "secret-real-key" not in _shown_key("lk_secret-real-key", "simulator-key")


def test_a_new_api_token_never_travels_in_a_cookie(admin_client_role):
    response = admin_client_role.post(
        "/admin/mapping/apitoken/add/", {"name": "billing", "can_write": "on"}
    )
    assert response.status_code == 302
    token = ApiToken.objects.get(name="billing")
    assert "messages" not in response.cookies
    assert all(token.key_prefix not in morsel.value for morsel in response.cookies.values())
    shown = admin_client_role.get(response["Location"]).content.decode()
    secret = shown.split("API token for billing: ")[1].split(" ")[0]
    assert token.key_prefix in secret and ApiToken.hash(secret) == token.digest


def test_login_is_throttled_after_repeated_wrong_passwords(client, make_user):
    user = make_user("viewer", username="pat")
    user.set_password("the-right-password-1")
    user.save()
    for _ in range(40):
        client.post("/accounts/login/", {"username": "pat", "password": "wrong"})
    response = client.post(
        "/accounts/login/", {"username": "pat", "password": "the-right-password-1"}
    )
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert SESSION_KEY not in client.session
    # Another user from the same address is not locked out by pat's attempts.
    other = make_user("viewer", username="sam")
    other.set_password("sams-password-123")
    other.save()
    ok = client.post("/accounts/login/", {"username": "sam", "password": "sams-password-123"})
    assert ok.status_code == 302


def test_a_few_typos_do_not_lock_anyone_out(client, make_user):
    user = make_user("viewer", username="kim")
    user.set_password("kims-password-123")
    user.save()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": "kim", "password": "typo"})
    response = client.post("/accounts/login/", {"username": "kim", "password": "kims-password-123"})
    assert response.status_code == 302 and client.session[SESSION_KEY] == str(user.pk)


def test_a_calendar_token_can_be_revoked_by_its_user(viewer_client):
    page = viewer_client.post(reverse("ops:issue_calendar_token")).content.decode()
    feed = page.split('id="calendar-feed-url">')[1].split("<")[0]
    path = "/" + feed.split("/", 3)[3]
    assert viewer_client.get(path).status_code == 200

    response = viewer_client.post(reverse("ops:revoke_calendar_token"))
    assert response.status_code == 302
    assert viewer_client.get(path).status_code == 404
    settings_page = viewer_client.get(reverse("ops:preferences")).content.decode()
    assert "was revoked" in settings_page
    # A new address works again; the revoked one stays dead.
    page = viewer_client.post(reverse("ops:issue_calendar_token")).content.decode()
    new_path = "/" + page.split('id="calendar-feed-url">')[1].split("<")[0].split("/", 3)[3]
    assert viewer_client.get(new_path).status_code == 200
    assert viewer_client.get(path).status_code == 404


def test_an_admin_lists_and_revokes_calendar_tokens(admin_client_role, make_user):
    holder = make_user("viewer", username="field-tech")
    token = CalendarToken.issue(holder)
    listing = admin_client_role.get("/admin/leapportal/calendartoken/")
    assert listing.status_code == 200 and "field-tech" in listing.content.decode()
    assert token not in listing.content.decode()
    record = CalendarToken.objects.get(user=holder)
    response = admin_client_role.post(
        "/admin/leapportal/calendartoken/",
        {"action": "revoke", "_selected_action": [record.pk]},
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.revoked_at is not None and record.revoked_by is not None
    assert admin_client_role.get(f"/dispatch/calendar/{token}.ics").status_code == 404
