"""The action queue: lanes, guidance and email, the workflow with its history, CSV, permissions."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from leapportal.web.mailto import mailto
from ops.models import ActionWorkItem, ActionWorkItemChange
from tests.dashboard.factories import make_action, make_meter


def _csv(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def actions(db):
    """An overdue AUTH_0001, a later SERV_0005 and a Leap-side LEAP_0001."""
    now = datetime.now(UTC)
    alice = make_meter(partner_reference="alice-1", end_customer_name="Alice Farm",
                       street_1="1 Orchard Rd", city="Fresno", utility_name="PGE")  # fmt: skip
    bob = make_meter(partner_reference="bob-1", end_customer_name="Bob Dairy")
    return {
        "overdue": make_action(alice, deadline=now - timedelta(hours=5)),
        "later": make_action(
            bob,
            code="SERV_0005",
            action_type="NO_MISSING_FIELDS",
            description="Load Zone",
            deadline=now + timedelta(days=9),
        ),  # fmt: skip
        "leap": make_action(
            bob, side="leap", code="LEAP_0001", action_type="IS_ASSIGNED_TO_A_RESOURCE"
        ),  # fmt: skip
    }


def test_partner_actions_sorted_by_deadline_with_urgency_and_leap_in_its_own_lane(
    viewer_client, actions
):
    body = viewer_client.get("/actions/").content.decode()
    assert body.index("alice-1") < body.index("bob-1")
    assert "urgency--overdue" in body and "ago" in body
    assert "LEAP_0001" not in body.split('id="action-table"')[1]  # not in the partner table
    leap = viewer_client.get("/actions/", {"side": "leap"}).content.decode()
    assert "LEAP_0001" in leap and "AUTH_0001" not in leap.split('id="action-table"')[1]


def test_grouped_by_code_and_filtered_by_code(viewer_client, actions):
    body = viewer_client.get("/actions/", {"group": "code"}).content.decode()
    assert body.count('class="group-row"') == 2
    body = viewer_client.get("/actions/", {"code": "SERV_0005"}).content.decode()
    table = body.split('id="action-table"')[1]
    assert "bob-1" in table and "alice-1" not in table


def test_the_work_panel_renders_guidance_and_the_customer_email(viewer_client, actions):
    action = actions["overdue"]
    panel = viewer_client.get(f"/actions/{action.pk}/", headers={"HX-Request": "true"})
    body = panel.content.decode()
    assert body.startswith(f'<tbody id="action-{action.pk}"')
    assert "Dear Alice Farm" in body and "1 Orchard Rd, Fresno" in body  # rendered template
    assert "mailto:customer" in body and "subject=Action%20needed" in body
    assert 'data-copy="email-' in body
    assert "collect-data-authorization" in body  # the template link from the catalogue
    assert "Operators work the queue" not in body or "Viewers read" in body


def test_an_operator_assigns_marks_contacted_notes_and_snoozes_with_history(
    operator_client, actions
):
    action = actions["overdue"]
    url = f"/actions/{action.pk}/work"
    response = operator_client.post(url, {"quick": "me"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and response["HX-Trigger"] == "actionsChanged"
    operator_client.post(url, {"quick": "contacted"}, headers={"HX-Request": "true"})
    operator_client.post(url, {"assignee": "operator-user", "state": "contacted",
                               "note": "Left a voicemail", "snooze": "3d"})  # fmt: skip
    item = ActionWorkItem.objects.get(action=action)
    assert item.assignee.username == "operator-user" and item.state == "contacted"
    assert item.note == "Left a voicemail" and item.snoozed_until > datetime.now(UTC)
    history = list(ActionWorkItemChange.objects.order_by("pk").values_list("changes", flat=True))
    assert history[0] == {"assignee": [None, "operator-user"]}
    assert history[1] == {"state": ["new", "contacted"]}
    assert set(history[2]) == {"note", "snoozed_until"}  # unchanged fields are not recorded
    # snoozed actions leave the default view and come back when asked for
    assert (
        "alice-1" not in operator_client.get("/actions/").content.decode().split("action-table")[1]
    )
    assert "alice-1" in operator_client.get("/actions/", {"snoozed": "only"}).content.decode()


def test_viewers_cannot_work_the_queue(viewer_client, actions):
    action = actions["overdue"]
    assert viewer_client.post(f"/actions/{action.pk}/work", {"quick": "me"}).status_code == 403
    assert not ActionWorkItem.objects.exists()


def test_bad_work_input_is_refused_and_changes_nothing(operator_client, actions):
    action = actions["overdue"]
    bad = operator_client.post(f"/actions/{action.pk}/work", {"state": "teleported"})
    assert bad.status_code == 400
    assert (
        operator_client.post(f"/actions/{action.pk}/work", {"assignee": "ghost"}).status_code == 400
    )
    assert not ActionWorkItemChange.objects.exists()


def test_the_mail_merge_csv_has_contacts_offsets_and_the_email(viewer_client, actions):
    rows = _csv(viewer_client.get("/actions/export.csv"))
    header, body = rows[0], rows[1:]
    assert [r[header.index("partner_reference")] for r in body] == ["alice-1", "bob-1"]
    first = dict(zip(header, body[0], strict=True))
    assert first["end_customer_email"].endswith("@example.com")
    assert first["email_body"].startswith("Dear Alice Farm")
    assert first["deadline"][-6:] in ("-08:00", "-07:00")  # Pacific offset
    assert first["work_state"] == "new"


@pytest.mark.parametrize("count", [2, 20])
def test_the_queue_costs_the_same_queries_for_few_and_many_rows(
    viewer_client, django_assert_num_queries, count
):
    for i in range(count):
        make_action(make_meter(), code=f"AUTH_000{i % 2 + 1}")
    viewer_client.get("/actions/")
    # 1: the lane tabs (one count each, in one query); 1: the stale-data banner (its three parts
    # in one query); 1: the navigation (saved views, open-alerts count and time-zone preference
    # together); 1: the unresponsive-meters lane's tab; 1: the onboarding tab
    # The user's own and group permissions: 1 (leapportal.auth.PermissionsBackend).
    with django_assert_num_queries(11):
        assert viewer_client.get("/actions/", {"per_page": "25"}).status_code == 200


def test_mailto_encodes_subject_and_body():
    link = mailto("a@b.example", "Hi & bye", "Line 1\nLine 2")
    assert link.startswith("mailto:a@b.example?subject=Hi%20%26%20bye&body=")
    assert unquote(link.split("body=")[1]) == "Line 1\nLine 2"
