"""The beat's evaluation task, run by a real Celery worker, ends in an email on a real SMTP server."""

from __future__ import annotations

import pytest
from django.utils import timezone

from alerts import notify
from alerts.models import Alert, OutboundMessage
from alerts.tasks import evaluate_alerts
from tests.dashboard.factories import make_action, make_meter

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_worker_raises_alerts_and_emails_them_through_smtp(
    celery_workers, celery_eager_off, smtp_server, make_user
):
    worker = celery_workers.get(
        extra_env={
            "EMAIL_BACKEND": "smtp",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_server.port),
        }  # fmt: skip
    )
    celery_workers.purge()
    ivy = make_user("operator", username="ivy", email="ivy@ops.example")
    pref = notify.start_preference(ivy)
    pref.email_enabled = True
    pref.kinds = ["overdue"]
    pref.save()
    make_action(make_meter(partner_reference="late-9"), deadline=timezone.now())

    evaluate_alerts.delay()

    worker.wait_for(lambda: OutboundMessage.objects.filter(status="sent").exists(), timeout=60)
    (email,) = smtp_server.wait_for(1)
    assert email["To"] == "ivy@ops.example"
    assert email["Subject"] == "[leapportal] Overdue: AUTH_0001 on late-9"
    assert Alert.objects.filter(kind="overdue", status="open").count() == 1
    celery_workers.purge()
