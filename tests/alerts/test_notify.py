"""Alerts reach people by email (a real SMTP server on loopback) and chat (a real HTTP receiver),
immediately or as digests in their own zone, never twice, retried with backoff when sending fails."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from alerts import evaluate, notify, sending
from alerts.models import Alert, NotificationPreference, OutboundMessage
from tests.alerts.test_evaluate import fresh_runs
from tests.dashboard.factories import make_action, make_meter

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def good_runs():
    """A good sync and reconcile just now: the only alerts are the ones a test makes."""
    fresh_runs(timezone.now())


def subscribe(user, **fields) -> NotificationPreference:
    pref = notify.start_preference(user)
    for name, value in fields.items():
        setattr(pref, name, value)
    pref.save()
    return pref


def send_all_queued() -> list[str]:
    return [sending.send(i) for i in sending.due()]


def test_an_immediate_email_goes_through_smtp_and_no_alert_is_sent_twice(smtp_server, make_user):
    now = timezone.now()
    old = make_meter(partner_reference="before-subscribing", missing_since=now)
    evaluate.evaluate(now)  # raised before the preference existed: not a backlog flood
    ann = make_user("operator", username="ann", email="ann@ops.example")
    subscribe(ann, email_enabled=True)

    make_meter(partner_reference="gone-7", missing_since=now)
    evaluate.evaluate(now)
    queued = notify.notify_all(now)
    assert len(queued) == 1
    assert send_all_queued() == ["sent"]

    (email,) = smtp_server.wait_for(1)
    assert email["To"] == "ann@ops.example"
    assert email["Subject"] == "[leapportal] gone-7 went missing from Leap's portfolio"
    body = smtp_server.bodies()[0]
    assert "gone-7 went missing" in body and str(old.partner_reference) not in body
    alert = Alert.objects.get(title__startswith="gone-7")
    assert f"/alerts/{alert.pk}/" in body

    # The next pass has nothing new for ann: nothing is queued, nothing sent again.
    evaluate.evaluate(now)
    assert notify.notify_all(now) == []
    message = OutboundMessage.objects.get()
    assert (message.status, message.alert_first_id, message.alert_last_id) == (
        "sent",
        alert.pk,
        alert.pk,
    )


def test_only_the_chosen_kinds_are_sent(smtp_server, make_user):
    now = timezone.now()
    bo = make_user("viewer", username="bo", email="bo@ops.example")
    subscribe(bo, email_enabled=True, kinds=["overdue"])
    make_meter(missing_since=now)
    make_action(make_meter(partner_reference="late-1"), deadline=now - timedelta(hours=1))
    evaluate.evaluate(now)
    notify.notify_all(now)
    send_all_queued()
    (email,) = smtp_server.wait_for(1)
    assert email["Subject"] == "[leapportal] Overdue: AUTH_0001 on late-1"
    assert "went missing" not in smtp_server.bodies()[0]


def test_a_chat_webhook_receives_a_slack_compatible_post(chat_receiver, make_user):
    now = timezone.now()
    cy = make_user("operator", username="cy")
    subscribe(cy, chat_enabled=True, chat_webhook_url=chat_receiver.url)
    for i in range(3):
        make_meter(partner_reference=f"gone-{i}", missing_since=now)
    evaluate.evaluate(now)
    notify.notify_all(now)
    assert send_all_queued() == ["sent"]
    (post,) = chat_receiver.posts
    assert post["text"].startswith("*[leapportal] 3 new alerts*")
    assert "3  Meter went missing" in post["text"] and "gone-2 went missing" in post["text"]


def test_a_daily_digest_waits_for_its_hour_in_the_users_zone_and_gathers_everything_new(
    smtp_server, make_user
):
    # 07:30 in Berlin (06:30 UTC, winter); the digest is at 08:00 local.
    morning = datetime(2026, 1, 15, 6, 30, tzinfo=UTC)
    dee = make_user("operator", username="dee", email="dee@ops.example")
    subscribe(dee, email_enabled=True, mode="daily", digest_hour=8, time_zone="Europe/Berlin")
    make_meter(partner_reference="m-1", missing_since=morning)
    evaluate.evaluate(morning)
    assert notify.notify_all(morning) == []  # not 08:00 in Berlin yet

    make_meter(partner_reference="m-2", missing_since=morning)
    evaluate.evaluate(morning + timedelta(minutes=20))
    at_eight = datetime(2026, 1, 15, 7, 1, tzinfo=UTC)  # 08:01 Berlin
    assert len(notify.notify_all(at_eight)) == 1
    assert notify.notify_all(at_eight + timedelta(hours=3)) == []  # one digest a day
    send_all_queued()
    (email,) = smtp_server.wait_for(1)
    assert email["Subject"] == "[leapportal] digest: 2 new alerts"
    body = smtp_server.bodies()[0]
    assert "m-1 went missing" in body and "m-2 went missing" in body
    assert "2026-01-15 07:30 CET" in body  # raised times in dee's zone

    # The next day's digest has only what is new since this one.
    make_meter(partner_reference="m-3", missing_since=morning)
    evaluate.evaluate(at_eight + timedelta(hours=5))
    next_day = at_eight + timedelta(days=1)
    notify.notify_all(next_day)
    send_all_queued()
    smtp_server.wait_for(2)
    body = smtp_server.bodies()[1]
    assert "m-3 went missing" in body and "m-1" not in body and "m-2" not in body


def test_an_hourly_digest_is_sent_once_an_hour():
    pref = NotificationPreference(mode="hourly", time_zone="UTC")
    at = datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    assert notify.is_due(pref, at)
    pref.last_sent_at = at
    assert not notify.is_due(pref, at + timedelta(minutes=50))
    assert notify.is_due(pref, at + timedelta(minutes=56))


def test_quiet_hours_hold_immediate_messages_until_they_end(smtp_server, make_user):
    night = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    ed = make_user("operator", username="ed", email="ed@ops.example")
    subscribe(ed, email_enabled=True, quiet_start=time(22), quiet_end=time(7), time_zone="UTC")
    make_meter(missing_since=night)
    evaluate.evaluate(night)
    assert notify.notify_all(night) == []
    assert notify.notify_all(night + timedelta(hours=7, minutes=1)) == []  # 06:31 still quiet
    assert notify.notify_all(night + timedelta(hours=7, minutes=31)) != []
    send_all_queued()
    smtp_server.wait_for(1)


def test_an_smtp_server_that_is_down_or_refuses_leaves_the_message_queued_and_retried(
    smtp_server, make_user, settings, client
):
    settings.NOTIFY_RETRY_DELAYS = [60, 300]
    now = timezone.now()
    fay = make_user("operator", username="fay", email="fay@ops.example")
    subscribe(fay, email_enabled=True)
    make_meter(partner_reference="down-1", missing_since=now)
    evaluate.evaluate(now)
    (message_id,) = notify.notify_all(now)

    smtp_server.stop()
    assert sending.send(message_id) == "retrying"
    message = OutboundMessage.objects.get(pk=message_id)
    assert message.attempts == 1 and "Connection refused" in message.last_error
    assert message.next_attempt_at > now + timedelta(seconds=55)
    assert sending.due() == []  # waits for its backoff

    smtp_server.start()
    smtp_server.refuse("451 4.3.0 Mailbox temporarily unavailable")
    assert sending.due(message.next_attempt_at) == [message_id]
    assert sending.send(message_id) == "retrying"
    message.refresh_from_db()
    assert "451" in message.last_error and message.attempts == 2

    assert sending.send(message_id) == "failed"  # the retries are used up: failed, kept
    client.force_login(fay)
    health = client.get("/meters/sync/").content.decode()
    assert 'id="message-health"' in health and "Failed (retries used up)" in health
    assert "Mailbox temporarily unavailable" in health

    smtp_server.refuse(None)
    response = client.post(f"/alerts/messages/{message_id}/retry", {"next": "/meters/sync/"})
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == "sent"  # eager in tests: the retry sent it at once
    (email,) = smtp_server.wait_for(1)
    assert "down-1" in email["Subject"]


def test_a_chat_webhook_that_answers_an_error_is_retried(chat_receiver, make_user):
    now = timezone.now()
    gus = make_user("operator", username="gus")
    subscribe(gus, chat_enabled=True, chat_webhook_url=chat_receiver.url)
    make_meter(missing_since=now)
    evaluate.evaluate(now)
    (message_id,) = notify.notify_all(now)
    chat_receiver.status = 503
    assert sending.send(message_id) == "retrying"
    assert "HTTP 503" in OutboundMessage.objects.get(pk=message_id).last_error
    chat_receiver.status = 200
    assert sending.send(message_id) == "sent" and len(chat_receiver.posts) == 1


def test_notification_settings_page_saves_and_validates(client, make_user, chat_receiver):
    hal = make_user("viewer", username="hal", email="hal@ops.example")
    client.force_login(hal)
    page = client.get("/alerts/notifications/")
    assert page.status_code == 200 and "My notifications" in page.content.decode()
    bad = client.post("/alerts/notifications/", {
        "chat_enabled": "on", "mode": "daily", "digest_hour": "8", "time_zone": "Europe/Paris",
        "quiet_start": "22:00",
    })  # fmt: skip
    text = bad.content.decode()
    assert (
        bad.status_code == 200 and "Give the chat" in text and "both the start and the end" in text
    )
    good = client.post("/alerts/notifications/", {
        "email_enabled": "on", "chat_enabled": "on", "chat_webhook_url": chat_receiver.url,
        "kinds": ["overdue", "deadline_1d"], "mode": "daily", "digest_hour": "7",
        "time_zone": "Europe/Paris", "quiet_start": "22:00", "quiet_end": "06:30",
    })  # fmt: skip
    assert good.status_code == 302
    pref = NotificationPreference.objects.get(user=hal)
    assert pref.kinds == ["overdue", "deadline_1d"] and pref.digest_hour == 7
    assert pref.quiet_end == time(6, 30) and pref.email_address == "hal@ops.example"


def test_the_sweep_stops_trying_smtp_after_a_failure_and_sends_everything_once_it_is_back(
    smtp_server, make_user
):
    now = timezone.now()
    for i in range(3):
        subscribe(make_user("viewer", username=f"u{i}", email=f"u{i}@ops.example"),
                  email_enabled=True)  # fmt: skip
    make_meter(missing_since=now)
    evaluate.evaluate(now)
    assert len(notify.notify_all(now)) == 3
    smtp_server.stop()
    assert sending.send_due(now) == {"sent": 0, "failed": 1, "deferred": 2}
    smtp_server.start()
    later = now + timedelta(hours=1)
    assert sending.send_due(later) == {"sent": 3, "failed": 0, "deferred": 0}
    assert sorted(e["To"] for e in smtp_server.wait_for(3)) == [
        f"u{i}@ops.example" for i in range(3)
    ]


def test_switching_notifications_on_starts_from_now_not_from_the_backlog(client, make_user):
    now = timezone.now()
    jo = make_user("viewer", username="jo", email="jo@ops.example")
    client.force_login(jo)
    client.get("/alerts/notifications/")  # the preference exists, everything off
    make_meter(missing_since=now)
    evaluate.evaluate(now)
    client.post("/alerts/notifications/", {"email_enabled": "on", "mode": "immediate",
                                           "digest_hour": "8", "time_zone": "UTC"})  # fmt: skip
    assert (
        NotificationPreference.objects.get(user=jo).last_alert_id == Alert.objects.latest("id").pk
    )
    assert notify.notify_all(now) == []
