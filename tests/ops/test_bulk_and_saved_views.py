"""Bulk changes to the queue, saved views, schedules in words and the calendar's links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from meters.models import RequiredAction
from ops import workflow
from ops.models import ActionWorkItem, ActionWorkItemChange, BulkWorkUpdate, SavedView
from ops.schedules import describe
from tests.dashboard.factories import make_action, make_meter


@pytest.fixture
def three(db):
    return [make_action(make_meter(), code="AUTH_0001") for _ in range(3)]


def test_a_bulk_state_change_audits_each_action_it_changed_and_skips_the_rest(
    three, make_user, django_assert_max_num_queries
):
    olga = make_user("operator", username="olga")
    workflow.update_work_item(three[0], actor=olga, state="contacted")
    with django_assert_max_num_queries(8):  # set-based: the same for 3 or 3,000 actions
        record = workflow.bulk_update([a.pk for a in three], actor=olga, operation="state",
                                      value="contacted", label="contacted")  # fmt: skip
    assert (record.selected, record.changed) == (3, 2)
    assert ActionWorkItem.objects.filter(state="contacted").count() == 3
    bulk_rows = ActionWorkItemChange.objects.filter(bulk=record)
    assert sorted(c.work_item.action_id for c in bulk_rows) == sorted(a.pk for a in three[1:])
    assert all(c.changes == {"state": ["new", "contacted"]} for c in bulk_rows)


def test_each_bulk_operation_records_before_and_after_as_a_single_change_would(three, make_user):
    olga, otto = make_user("operator", username="olga"), make_user("operator", username="otto")
    workflow.update_work_item(three[0], actor=olga, assignee=otto)
    ids = [a.pk for a in three]

    def history(record):
        rows = ActionWorkItemChange.objects.filter(bulk=record).select_related("work_item")
        return {c.work_item.action_id: c.changes for c in rows}

    assigned = workflow.bulk_update(ids, actor=olga, operation="assign", value=olga, label="olga")
    assert history(assigned) == {
        three[0].pk: {"assignee": ["otto", "olga"]},
        three[1].pk: {"assignee": [None, "olga"]},
        three[2].pk: {"assignee": [None, "olga"]},
    }
    until = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    snoozed = workflow.bulk_update(ids, actor=olga, operation="snooze", value=until, label="3d")
    assert history(snoozed) == {
        pk: {"snoozed_until": [None, "2030-01-02T03:04:05+00:00"]} for pk in ids
    }
    woken = workflow.bulk_update(ids[:1], actor=olga, operation="snooze", value=None, label="")
    assert history(woken) == {three[0].pk: {"snoozed_until": ["2030-01-02T03:04:05+00:00", None]}}
    unassigned = workflow.bulk_update(ids, actor=otto, operation="assign", value=None, label="")
    assert unassigned.changed == 3 and not ActionWorkItem.objects.exclude(assignee=None).exists()
    # What it changed carries who and when, as a single change does.
    item = ActionWorkItem.objects.get(action=three[1])
    assert (item.updated_by, item.updated_at) == (otto, unassigned.created_at)
    assert (item.snoozed_until, item.state) == (until, "new")


def test_a_bulk_change_costs_the_same_queries_for_3_or_300_actions(make_user, db):
    olga = make_user("operator", username="olga")
    few = [make_action(make_meter()).pk for _ in range(3)]
    many = [make_action(make_meter()).pk for _ in range(300)]
    workflow.update_work_item(RequiredAction.objects.get(pk=many[0]), actor=olga, note="hi")
    counts = []
    for ids in (few, many):
        for operation, value in (("state", "contacted"), ("assign", olga), ("note", "called")):
            with CaptureQueriesContext(connection) as queries:
                record = workflow.bulk_update(
                    ids, actor=olga, operation=operation, value=value, label=str(value)
                )
            assert record.changed == len(ids)
            counts.append(len(queries))
    assert counts[:3] == counts[3:]
    notes = ActionWorkItem.objects.filter(action_id__in=many).values_list("note", flat=True)
    assert sum(n.startswith("hi\n\ncalled (olga, ") for n in notes) == 1
    assert sum(n.startswith("called (olga, ") for n in notes) == 299


def test_a_bulk_note_is_appended_signed_never_overwrites(three, make_user):
    olga = make_user("operator", username="olga")
    workflow.update_work_item(three[0], actor=olga, note="first call: no answer")
    workflow.bulk_update([three[0].pk], actor=olga, operation="note", value="emailed the form",
                         label="emailed the form")  # fmt: skip
    note = ActionWorkItem.objects.get(action=three[0]).note
    assert note.startswith("first call: no answer\n\nemailed the form (olga, ")


def test_bulk_input_is_validated_and_refused_whole(operator_client, three):
    bad = [
        ({"operation": "state", "state": "", "ids": [three[0].pk]}, "choose a state"),
        ({"operation": "assign", "assignee": "nobody-like-this", "ids": [three[0].pk]},
         "cannot work the queue"),
        ({"operation": "note", "note": "  ", "ids": [three[0].pk]}, "write the note"),
        ({"operation": "state", "state": "done"}, "select at least one action"),
        ({"operation": "explode", "ids": [three[0].pk]}, "Invalid bulk change"),
        ({"operation": "state", "state": "done", "ids": ["1; drop"]}, "Invalid bulk change"),
    ]  # fmt: skip
    for form, message in bad:
        response = operator_client.post("/actions/bulk", form, headers={"HX-Request": "true"})
        assert response.status_code == 200 and message in response.content.decode(), form
    assert not BulkWorkUpdate.objects.exists() and not ActionWorkItemChange.objects.exists()


def test_all_matching_takes_the_filters_not_the_page(operator_client, db):
    due = datetime.now(UTC) + timedelta(days=1)
    wanted = [make_action(make_meter(transmission_region="ERCOT"), deadline=due) for _ in range(60)]
    other = make_action(make_meter(transmission_region="CAISO"), deadline=due)
    response = operator_client.post(
        "/actions/bulk",
        {"operation": "state", "state": "waiting_leap", "all_matching": "on",
         "query": "side=partner&region=ERCOT", "back": "?region=ERCOT"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert "on 60 actions; 60 changed" in response.content.decode()
    assert ActionWorkItem.objects.filter(state="waiting_leap").count() == len(wanted)
    assert not ActionWorkItem.objects.filter(action=other).exists()


def test_a_saved_view_is_per_user_and_replaced_by_name(client, make_user):
    vera, otto = make_user("viewer", username="vera"), make_user("viewer", username="otto")
    client.force_login(vera)
    for query in ("code=AUTH_0001&page=3", "code=SERV_0005"):
        response = client.post(
            "/me/views/", {"name": "Mine", "page": "ops:actions", "query": query}
        )
        assert response.status_code == 302
    view = SavedView.objects.get(user=vera)
    assert view.query == "code=SERV_0005" and response["Location"] == "/actions/?code=SERV_0005"
    assert client.post("/me/views/", {"name": "x", "page": "admin:index"}).status_code == 302
    assert SavedView.objects.count() == 1  # an unknown page is refused
    assert 'href="/actions/?code=SERV_0005"' in client.get("/meters/").content.decode()
    client.force_login(otto)
    assert "Mine" not in client.get("/meters/").content.decode()
    assert client.post(f"/me/views/{view.pk}/delete").status_code == 404


def test_schedules_read_in_words(db):
    cron = CrontabSchedule.objects.create(minute="30", hour="2", timezone="UTC")
    every = IntervalSchedule.objects.create(every=300, period="seconds")
    nightly = PeriodicTask.objects.create(name="n", task="t", crontab=cron)
    often = PeriodicTask.objects.create(name="o", task="t", interval=every)
    la = __import__("zoneinfo").ZoneInfo("America/Los_Angeles")
    assert describe(nightly, "utc") == "daily at 02:30 UTC"
    local = describe(nightly, "market", [la])
    assert local.startswith("daily at 02:30 UTC · 18:30 P") or local.startswith(
        "daily at 02:30 UTC · 19:30 P"
    )
    assert describe(often) == "every 5 minutes"
