"""Customer emails from the action queue: preview, edit, send through SMTP, recorded on the action;
send to all of one code; the resend guard; invalid addresses; SMTP down; templates admins edit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from alerts import outreach, sending
from alerts.models import OutboundMessage
from meters.models import ReasonCode, RequiredAction
from ops.models import ActionWorkItem, ActionWorkItemChange
from tests.dashboard.factories import make_action, make_meter

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture
def catalogue():
    call_command("seed_reason_codes", verbosity=0)
    code = ReasonCode.objects.get(code="AUTH_0001")
    code.email_subject = "Please re-authorize {partner_reference}"
    code.email_body = (
        "Dear {end_customer_name},\n\nyour meter at {street_1}, {city}: {action_description}"
    )
    code.save()
    return code


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """client.post, then what the request queued on commit (the send task, eager in tests)."""

    def do(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(*args, **kwargs)

    return do


@pytest.fixture
def operator(client, make_user):
    user = make_user("operator", username="olga")
    client.force_login(user)
    return user


def test_preview_edit_and_send_one_customer_email(smtp_server, catalogue, operator, post, client):
    meter = make_meter(partner_reference="site-9", end_customer_name="Ada Lovelace",
                       end_customer_email="ada@customer.example", street_1="1 Main St")  # fmt: skip
    action = make_action(meter)

    row = client.get(f"/actions/{action.pk}/", headers=HX).content.decode()
    assert f'id="compose-{action.pk}"' in row and "mailto:ada@customer.example" in row  # both ways

    preview = client.get(f"/outreach/actions/{action.pk}/email", headers=HX).content.decode()
    assert "Please re-authorize site-9" in preview and "Dear Ada Lovelace," in preview
    assert "1 Main St, Fresno: End customer must re-authorize the meter" in preview

    edited = "Dear Ada,\n\nplease re-authorize the meter at 1 Main St today.\n\nThanks, Olga"
    response = post(
        f"/outreach/actions/{action.pk}/email",
        {"to": "ada@customer.example", "subject": "Please re-authorize site-9", "body": edited},
        headers=HX,
    )
    assert response.status_code == 200
    (email,) = smtp_server.wait_for(1)
    assert (
        email["To"] == "ada@customer.example" and email["Subject"] == "Please re-authorize site-9"
    )
    assert smtp_server.bodies()[0].strip() == edited  # exactly what the operator saw and edited

    message = OutboundMessage.objects.get()
    assert (message.status, message.created_by, message.body) == ("sent", operator, edited)
    item = ActionWorkItem.objects.get(action=action)
    assert item.state == "contacted"
    changes = [
        c.changes for c in ActionWorkItemChange.objects.filter(work_item=item).order_by("pk")
    ]
    assert changes[0] == {"state": ["new", "contacted"]}
    assert changes[1] == {
        "customer_email": [None, "sent to ada@customer.example: Please re-authorize site-9"]
    }
    panel = client.get(f"/actions/{action.pk}/", headers=HX).content.decode()
    assert "Sent" in panel and "thanks, olga" in panel.lower()  # the exact text is on the action


def test_the_same_customer_is_not_emailed_twice_for_the_same_action_within_the_guard(
    smtp_server, catalogue, operator, post, client, settings
):
    settings.OUTREACH_RESEND_GUARD_HOURS = 48
    action = make_action(make_meter(end_customer_email="bo@customer.example"))
    form = {"to": "bo@customer.example", "subject": "Hello", "body": "Text"}
    assert post(f"/outreach/actions/{action.pk}/email", form).status_code == 302
    again = post(f"/outreach/actions/{action.pk}/email", form, headers=HX)
    assert (
        again.status_code == 400 and "already emailed about this action" in again.content.decode()
    )
    assert len(smtp_server.wait_for(1)) == 1 and OutboundMessage.objects.count() == 1
    warning = client.get(f"/outreach/actions/{action.pk}/email", headers=HX).content.decode()
    assert "Already emailed bo@customer.example" in warning

    # After the interval it may be sent again.
    OutboundMessage.objects.update(created_at=timezone.now() - timedelta(hours=49))
    assert post(f"/outreach/actions/{action.pk}/email", form).status_code == 302
    smtp_server.wait_for(2)


def test_an_invalid_address_from_leap_is_reported_on_the_action_and_not_sent(
    smtp_server, catalogue, operator, post, client
):
    action = make_action(make_meter(end_customer_email="ada@@customer"))
    row = client.get(f"/actions/{action.pk}/", headers=HX).content.decode()
    assert "is not a valid email address" in row and f'id="compose-{action.pk}"' not in row
    response = post(
        f"/outreach/actions/{action.pk}/email",
        {"to": "ada@@customer", "subject": "Hi", "body": "Text"},
        headers=HX,
    )
    assert response.status_code == 400
    assert "ada@@customer (from Leap) is not a valid email address" in response.content.decode()
    refused = OutboundMessage.objects.get()
    assert refused.status == "refused" and refused.action == action
    assert smtp_server.messages == [] and not ActionWorkItem.objects.filter(action=action).exists()


def test_smtp_down_leaves_the_customer_email_queued_visible_and_sent_later(
    smtp_server, catalogue, operator, post, client
):
    action = make_action(make_meter(end_customer_email="cy@customer.example"))
    smtp_server.stop()
    form = {"to": "cy@customer.example", "subject": "Hello", "body": "Text"}
    assert post(f"/outreach/actions/{action.pk}/email", form).status_code == 302
    message = OutboundMessage.objects.get()
    assert message.status == "retrying" and message.attempts == 1
    panel = client.get(f"/actions/{action.pk}/", headers=HX).content.decode()
    assert "Queued, retrying" in panel and "Connection refused" in panel
    assert ActionWorkItem.objects.filter(action=action).exists() is False  # not contacted yet

    smtp_server.start()
    assert sending.send(message.pk) == "sent"
    assert smtp_server.wait_for(1)[0]["To"] == "cy@customer.example"
    assert ActionWorkItem.objects.get(action=action).state == "contacted"


def test_send_to_all_previews_the_first_counts_and_sends_each_rendered(
    smtp_server, catalogue, operator, post, client
):
    meters = [
        make_meter(partner_reference=f"bulk-{i}", end_customer_name=f"Name {i}") for i in range(3)
    ]
    actions = [
        make_action(m, deadline=timezone.now() + timedelta(days=i + 1))
        for i, m in enumerate(meters)
    ]
    bad = make_action(make_meter(partner_reference="bulk-bad", end_customer_email="nope"))
    make_action(make_meter(partner_reference="other"), code="DATA_0002")  # another code

    queue = client.get("/actions/?code=AUTH_0001").content.decode()
    assert 'id="actions-send-all"' in queue
    page = client.get("/outreach/send-all?code=AUTH_0001")
    text = page.content.decode()
    assert page.status_code == 200
    assert '<b id="sendable-count">3</b> of 4' in text and "have no valid address" in text
    assert "Please re-authorize bulk-0" in text  # the first by deadline

    bad_template = client.get("/outreach/send-all?code=AUTH_0001&subject=Hi {nickname}&body=x")
    assert "unknown field {nickname}" in bad_template.content.decode()

    sent = post("/outreach/send-all", {
        "code": "AUTH_0001", "subject": "Action needed for {partner_reference}",
        "body": "Dear {end_customer_name}", "confirm_count": "3", "send": "1",
    })  # fmt: skip
    assert sent.status_code == 302
    emails = smtp_server.wait_for(3)
    assert sorted(e["Subject"] for e in emails) == [f"Action needed for bulk-{i}" for i in range(3)]
    assert sorted(smtp_server.bodies()) == [f"Dear Name {i}\n" for i in range(3)]
    assert OutboundMessage.objects.get(action=bad).status == "refused"
    for a in actions:
        assert ActionWorkItem.objects.get(action=a).state == "contacted"

    # Again at once: everybody was just emailed; nothing is sent twice.
    again = client.get("/outreach/send-all?code=AUTH_0001").content.decode()
    assert '<b id="sendable-count">0</b>' in again and "were emailed within" in again


def test_send_to_all_refuses_when_the_selection_changed_since_the_preview(
    smtp_server, catalogue, operator, post, client
):
    make_action(make_meter())
    response = post("/outreach/send-all", {
        "code": "AUTH_0001", "subject": "S", "body": "B", "confirm_count": "5", "send": "1",
    })  # fmt: skip
    assert response.status_code == 400 and "The selection changed" in response.content.decode()
    assert smtp_server.messages == []


def test_admins_edit_templates_with_fields_listed_and_a_preview_against_a_real_meter(
    client, make_user, catalogue
):
    meter = make_meter(partner_reference="preview-me", end_customer_name="Grace Hopper")
    client.force_login(make_user("admin", username="adele"))
    page = client.get("/outreach/templates/AUTH_0001/").content.decode()
    assert 'id="template-fields"' in page and "{electric_service_account_number}" in page

    preview = client.post("/outreach/templates/AUTH_0001/", {
        "email_subject": "Hi {end_customer_name}", "email_body": "Account {electric_service_account_number}",
        "meter": "preview-me", "preview": "1",
    }).content.decode()  # fmt: skip
    assert (
        "Hi Grace Hopper" in preview
        and f"Account {meter.electric_service_account_number}" in preview
    )
    assert ReasonCode.objects.get(code="AUTH_0001").email_subject.startswith("Please")  # not saved

    refused = client.post("/outreach/templates/AUTH_0001/", {
        "email_subject": "Hi {first_name}", "email_body": "Bye {", "save": "1",
    })  # fmt: skip
    text = refused.content.decode()
    assert refused.status_code == 400
    assert "unknown field {first_name}" in text and "malformed placeholder" in text
    assert ReasonCode.objects.get(code="AUTH_0001").email_subject.startswith("Please")

    saved = client.post("/outreach/templates/AUTH_0001/", {
        "email_subject": "Re: {partner_reference}", "email_body": "Dear {end_customer_name}", "save": "1",
    })  # fmt: skip
    assert saved.status_code == 302
    assert ReasonCode.objects.get(code="AUTH_0001").email_subject == "Re: {partner_reference}"


def test_the_django_admin_refuses_an_unknown_field_too(client, make_user, catalogue):
    client.force_login(make_user("admin", username="adam"))
    response = client.post("/admin/meters/reasoncode/AUTH_0001/change/", {
        "code": "AUTH_0001", "kind": "action_code", "title": "t", "who_acts": "customer",
        "guidance": "g", "email_subject": "Hello {customer_first_name}", "email_body": "b",
    })  # fmt: skip
    assert (
        response.status_code == 200
        and "unknown field {customer_first_name}" in response.content.decode()
    )


def test_roles_viewers_read_operators_send_admins_edit_templates(client, make_user, catalogue):
    action = make_action(make_meter())
    client.force_login(make_user("viewer", username="vic"))
    assert client.get(f"/outreach/actions/{action.pk}/email").status_code == 403
    assert client.get("/outreach/send-all?code=AUTH_0001").status_code == 403
    assert client.get("/outreach/templates/").status_code == 200
    assert client.get("/outreach/templates/AUTH_0001/").status_code == 403
    client.force_login(make_user("operator", username="otto"))
    assert client.get(f"/outreach/actions/{action.pk}/email").status_code == 200
    assert client.get("/outreach/templates/AUTH_0001/").status_code == 403


def test_send_to_all_twice_from_the_same_preview_sends_each_email_once(
    smtp_server, catalogue, operator
):
    for i in range(3):
        make_action(make_meter(partner_reference=f"dbl-{i}"))
    now = timezone.now()
    first = outreach.plan(RequiredAction.objects.all(), "AUTH_0001", now)
    second = outreach.plan(RequiredAction.objects.all(), "AUTH_0001", now)  # the same preview
    assert (
        outreach.send_all(first, subject="S {partner_reference}", body="B", by=operator)["queued"]
        == 3
    )
    done = outreach.send_all(second, subject="S {partner_reference}", body="B", by=operator)
    assert done == {"queued": 0, "refused": 0, "skipped": 3}
    assert OutboundMessage.objects.count() == 3


def test_a_subject_with_a_line_break_is_sent_on_one_line(smtp_server, catalogue, operator, post):
    action = make_action(make_meter(end_customer_email="eve@customer.example"))
    form = {"to": "eve@customer.example", "subject": "Hello\r\nBcc: x@evil.example", "body": "Text"}
    assert post(f"/outreach/actions/{action.pk}/email", form).status_code == 302
    (email,) = smtp_server.wait_for(1)
    assert email["Subject"] == "Hello Bcc: x@evil.example" and email["Bcc"] is None
    assert smtp_server.handler.envelopes[0][1] == ["eve@customer.example"]
