"""Large bulk changes of the action queue: queued, applied by a worker, their progress followed.

Over OPS_BULK_INLINE_MAX actions a bulk change is recorded as queued and ops.tasks applies it in
chunks; the POST answers at once with a progress fragment polling /actions/bulk/<id>, a page GET
serves. Small ones stay inline (tests/ops/test_bulk_and_saved_views.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from ops import workflow
from ops.models import ActionWorkItem, ActionWorkItemChange, BulkWorkUpdate
from ops.tasks import apply_bulk_update
from tests.dashboard.factories import make_action, make_meter

HX = {"HX-Request": "true"}
FROM_QUEUE = {"HX-Request": "true", "HX-Target": "bulk-status"}


def _actions(n: int, region: str = "ERCOT") -> list:
    due = datetime.now(UTC) + timedelta(days=1)
    return [make_action(make_meter(transmission_region=region), deadline=due) for _ in range(n)]


def _all_matching(**form) -> dict:
    return {"all_matching": "on", "query": "side=partner&region=ERCOT", "back": "?region=ERCOT",
            **form}  # fmt: skip


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_large_all_matching_change_is_applied_whole_by_the_real_worker_with_history_per_action(
    celery_worker, operator_client
):
    wanted = _actions(230)  # over the default OPS_BULK_INLINE_MAX of 200
    other = make_action(make_meter(transmission_region="CAISO"))

    response = operator_client.post(
        "/actions/bulk", _all_matching(operation="state", state="contacted"), headers=HX
    )

    record = BulkWorkUpdate.objects.get()
    body = response.content.decode()
    assert response.status_code == 200 and response["HX-Retarget"] == "#bulk-status"
    assert f'hx-get="/actions/bulk/{record.pk}?back=%3Fregion%3DERCOT"' in body
    assert 'hx-trigger="every 1s"' in body and "on 230 actions" in body
    assert record.selected == 230 and len(record.action_ids) == 230
    celery_worker.wait_for(
        lambda: BulkWorkUpdate.objects.get(pk=record.pk).status == "done", what="the bulk change"
    )
    record.refresh_from_db()
    assert (record.processed, record.changed, record.error) == (230, 230, "")
    assert record.started_at and record.finished_at >= record.started_at
    assert ActionWorkItem.objects.filter(state="contacted").count() == 230
    history = ActionWorkItemChange.objects.filter(bulk=record).select_related("work_item")
    assert sorted(c.work_item.action_id for c in history) == sorted(a.pk for a in wanted)
    assert all(c.changes == {"state": ["new", "contacted"]} for c in history)
    assert {c.changed_by.username for c in history} == {"operator-user"}
    assert not ActionWorkItem.objects.filter(action=other).exists()
    assert "apply_bulk_update[" in celery_worker.log_text()

    # The next poll from the queue gets the refreshed table with the result, and stops polling.
    final = operator_client.get(f"/actions/bulk/{record.pk}?back=%3Fregion%3DERCOT",
                                headers=FROM_QUEUE)  # fmt: skip
    text = final.content.decode()
    assert final["HX-Retarget"] == "#action-table" and 'id="action-table"' in text
    assert f"Bulk #{record.pk}: set state “contacted” on 230 actions; 230 changed." in text
    assert "every 1s" not in text


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_bulk_change_the_worker_cannot_apply_is_shown_failed_with_its_error(
    celery_worker, operator_client, make_user
):
    actions = _actions(8)
    otto = make_user("operator", username="otto")
    with transaction.atomic():  # the task is sent when this commits: otto is gone by then
        record = workflow.queue_bulk_update(
            [a.pk for a in actions], actor=otto, operation="assign", value=otto, label="otto"
        )
        otto.delete()
    celery_worker.wait_for(
        lambda: BulkWorkUpdate.objects.get(pk=record.pk).status == "failed", what="the failure"
    )
    record.refresh_from_db()
    assert "no longer exists" in record.error and record.changed == 0
    assert "Traceback" in celery_worker.log_text()  # raised again: the worker logs it too
    page = operator_client.get(f"/actions/bulk/{record.pk}")
    assert f"Bulk #{record.pk} failed after 0 of 8 actions" in page.content.decode()
    assert "no longer exists" in page.content.decode()
    final = operator_client.get(f"/actions/bulk/{record.pk}", headers=FROM_QUEUE)
    assert 'class="msg msg--error"' in final.content.decode()


def test_a_viewer_can_neither_start_nor_follow_a_bulk_change(viewer_client, make_user):
    actions = _actions(3)
    record = workflow.queue_bulk_update(
        [a.pk for a in actions], actor=make_user("operator", username="olga"),
        operation="state", value="done", label="done",
    )  # fmt: skip
    assert viewer_client.post("/actions/bulk", _all_matching(operation="state", state="done"),
                              headers=HX).status_code == 403  # fmt: skip
    assert viewer_client.get(f"/actions/bulk/{record.pk}").status_code == 403
    assert viewer_client.get(f"/actions/bulk/{record.pk}", headers=FROM_QUEUE).status_code == 403
    assert BulkWorkUpdate.objects.count() == 1 and not ActionWorkItem.objects.exists()


def test_without_javascript_the_progress_is_a_page_that_reloads_until_done(
    operator_client, settings
):
    settings.OPS_BULK_INLINE_MAX = 10
    _actions(12)
    response = operator_client.post("/actions/bulk", _all_matching(operation="note", note="called"))
    record = BulkWorkUpdate.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/actions/bulk/{record.pk}?back=%3Fregion%3DERCOT"

    for _ in range(2):  # reloading it is harmless: it only shows
        page = operator_client.get(response["Location"])
        text = page.content.decode()
        assert page.status_code == 200 and "Waiting for a worker" in text
        assert '<meta http-equiv="refresh" content="2">' in text
        assert f"<title>Bulk change #{record.pk} · Queued" in text
    assert 'href="/actions/?region=ERCOT"' in text  # back to the queue it came from

    assert apply_bulk_update.delay(record.pk).get() == "done"
    text = operator_client.get(response["Location"]).content.decode()
    assert f"Bulk #{record.pk}: add a note “called” on 12 actions; 12 changed." in text
    assert "http-equiv" not in text and "hx-trigger" not in text
    assert ActionWorkItem.objects.filter(note__startswith="called (operator-user, ").count() == 12


def test_the_queue_polls_while_queued_then_gets_the_refreshed_table(operator_client, settings):
    settings.OPS_BULK_INLINE_MAX = 10
    _actions(12)
    response = operator_client.post(
        "/actions/bulk", _all_matching(operation="assign", assignee="me"), headers=HX
    )
    record = BulkWorkUpdate.objects.get()
    assert record.status == "queued" and response["HX-Reswap"] == "outerHTML"
    poll = operator_client.get(f"/actions/bulk/{record.pk}?back=%3Fregion%3DERCOT",
                               headers=FROM_QUEUE).content.decode()  # fmt: skip
    assert 'id="bulk-status"' in poll and 'hx-trigger="every 1s"' in poll
    assert 'data-bulk-status="queued"' in poll
    workflow.run_queued_bulk_update(record.pk)
    table = operator_client.get(f"/actions/bulk/{record.pk}?back=%3Fregion%3DERCOT",
                                headers=FROM_QUEUE).content.decode()  # fmt: skip
    assert "on 12 actions; 12 changed." in table and table.count("data-action-row") == 12
    assert ActionWorkItem.objects.filter(assignee__username="operator-user").count() == 12


def test_a_reloaded_queue_keeps_showing_its_users_running_change(client, make_user, settings):
    settings.OPS_BULK_INLINE_MAX = 2
    olga, otto = make_user("operator", username="olga"), make_user("operator", username="otto")
    _actions(3)
    client.force_login(olga)
    client.post("/actions/bulk", _all_matching(operation="state", state="done"), headers=HX)
    record = BulkWorkUpdate.objects.get()
    page = client.get("/actions/?region=ERCOT").content.decode()
    assert f'hx-get="/actions/bulk/{record.pk}?back=%3Fregion%3DERCOT"' in page
    assert 'id="bulk-status" class="bulk-progress"' in page
    client.force_login(otto)  # someone else's change is not in otto's way
    assert "bulk-progress" not in client.get("/actions/").content.decode()
    workflow.run_queued_bulk_update(record.pk)
    client.force_login(olga)
    assert "bulk-progress" not in client.get("/actions/").content.decode()


def test_a_bulk_change_up_to_the_inline_maximum_is_written_in_the_request(
    operator_client, settings
):
    settings.OPS_BULK_INLINE_MAX = 12
    _actions(12)
    response = operator_client.post(
        "/actions/bulk", _all_matching(operation="state", state="done"), headers=HX
    )
    assert "on 12 actions; 12 changed." in response.content.decode()
    record = BulkWorkUpdate.objects.get()
    assert (record.status, record.processed, record.action_ids) == ("done", 12, [])


def test_a_queued_bulk_change_run_twice_is_applied_once(make_user, db):
    olga = make_user("operator", username="olga")
    actions = _actions(5)
    record = workflow.queue_bulk_update(
        [a.pk for a in actions], actor=olga, operation="note", value="left a voicemail",
        label="left a voicemail",
    )  # fmt: skip
    assert workflow.run_queued_bulk_update(record.pk) == "done"
    assert workflow.run_queued_bulk_update(record.pk).startswith("not claimed")
    assert not workflow.claim_bulk_update(record.pk)
    assert ActionWorkItemChange.objects.filter(bulk=record).count() == 5
    notes = ActionWorkItem.objects.values_list("note", flat=True)
    assert all(n.count("left a voicemail") == 1 for n in notes)


def test_a_large_change_goes_in_chunks_and_a_dead_workers_run_resumes_where_it_stopped(
    make_user, db, monkeypatch
):
    monkeypatch.setattr(workflow, "BULK_CHUNK", 7)
    olga = make_user("operator", username="olga")
    actions = _actions(30)
    record = workflow.queue_bulk_update(
        [a.pk for a in actions], actor=olga, operation="note", value="sent the form",
        label="sent the form",
    )  # fmt: skip
    # A worker applied the first two chunks and died: running, silent for too long.
    assert workflow.claim_bulk_update(record.pk)
    monkeypatch.setattr(workflow, "BULK_CHUNK", 14)
    first = [a.pk for a in actions[:14]]
    now = timezone.now()
    workflow._apply_bulk(first, actor=olga, operation="note", value="sent the form", now=now,
                         record=record)  # fmt: skip
    BulkWorkUpdate.objects.filter(pk=record.pk).update(
        processed=14, changed=14, heartbeat_at=now - workflow.BULK_STALE - timedelta(seconds=1)
    )
    monkeypatch.setattr(workflow, "BULK_CHUNK", 7)
    assert workflow.run_queued_bulk_update(record.pk) == "done"
    record.refresh_from_db()
    assert (record.status, record.processed, record.changed) == ("done", 30, 30)
    assert ActionWorkItemChange.objects.filter(bulk=record).count() == 30
    notes = ActionWorkItem.objects.values_list("note", flat=True)
    assert len(notes) == 30 and all(n.count("sent the form") == 1 for n in notes)


def test_a_running_bulk_change_is_not_taken_over_while_its_worker_writes(make_user, db):
    olga = make_user("operator", username="olga")
    record = workflow.queue_bulk_update(
        [a.pk for a in _actions(2)], actor=olga, operation="state", value="done", label="done"
    )
    assert workflow.claim_bulk_update(record.pk)
    assert workflow.run_queued_bulk_update(record.pk).startswith("not claimed")
    assert not ActionWorkItem.objects.exists()


def test_a_bulk_change_whose_user_is_gone_fails_and_says_so(make_user, db):
    olga = make_user("operator", username="olga")
    record = workflow.queue_bulk_update(
        [a.pk for a in _actions(2)], actor=olga, operation="state", value="done", label="done"
    )
    olga.delete()
    with pytest.raises(workflow.BulkUpdateFailed):
        workflow.run_queued_bulk_update(record.pk)
    record.refresh_from_db()
    assert (
        record.status == "failed" and "the user who asked for it no longer exists" in record.error
    )
    assert record.finished_at is not None and not ActionWorkItem.objects.exists()


def test_the_code_before_queued_changes_can_still_record_a_bulk_change(db):
    """A rolling deploy or a rollback: an INSERT naming only the old columns still works."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ops_bulkworkupdate (created_at, operation, value, query, selected, changed)"
            " VALUES (now(), 'state', 'done', '', 3, 3) RETURNING id"
        )
        (pk,) = cursor.fetchone()
    record = BulkWorkUpdate.objects.get(pk=pk)
    assert (record.status, record.action_ids, record.arguments, record.processed, record.error) == (
        "done", [], {}, 0, ""
    )  # fmt: skip


def test_each_queued_operation_writes_the_history_an_inline_change_writes(make_user, db):
    olga, otto = make_user("operator", username="olga"), make_user("operator", username="otto")
    until = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    cases = [("assign", otto, "otto"), ("snooze", until, "3d"), ("state", "waiting_leap", "x"),
             ("assign", None, "nobody"), ("snooze", None, "")]  # fmt: skip
    inline_actions, queued_actions = _actions(2), _actions(2)

    def history(record):
        rows = ActionWorkItemChange.objects.filter(bulk=record).order_by("work_item__action_id")
        return [(c.changes, c.changed_by_id) for c in rows]

    for operation, value, label in cases:
        inline = workflow.bulk_update([a.pk for a in inline_actions], actor=olga,
                                      operation=operation, value=value, label=label)  # fmt: skip
        queued = workflow.queue_bulk_update([a.pk for a in queued_actions], actor=olga,
                                            operation=operation, value=value, label=label)  # fmt: skip
        assert workflow.run_queued_bulk_update(queued.pk) == "done"
        assert history(queued) == history(inline) and len(history(queued)) == 2, operation
