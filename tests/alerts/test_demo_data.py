"""On make demo's data (seeded through the simulator), alerts are raised, every page answers for
each role, and with the demo's file backend the emails are written to a folder instead of sent."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from alerts import evaluate, notify, sending
from alerts.models import Alert, OutboundMessage
from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer
from meters.models import RequiredAction

pytestmark = pytest.mark.django_db(transaction=True)  # the seed runs its tasks on commit


@pytest.fixture
def demo_data(settings, monkeypatch):
    sim = Simulator(seed=42, meters=60, admin_token="demo-admin-token-for-tests")
    server = SimulatorServer(sim, "127.0.0.1", 0).serve_in_thread()
    try:
        settings.LEAP_SIMULATOR = True
        settings.LEAP_BASE_URL = server.url
        settings.LEAP_API_KEY = sim.api_key
        monkeypatch.setenv("LEAP_SIMULATOR_ADMIN_TOKEN", sim.admin_token)
        call_command("seed_demo", stdout=StringIO())
    finally:
        server.stop()


def test_the_demo_raises_alerts_every_role_reads_them_and_emails_go_to_files(
    demo_data, client, make_user, settings, tmp_path
):
    result = evaluate.evaluate()
    assert result.raised > 0 and Alert.objects.filter(kind__in=["new_action", "deadline_7d",
                                                               "deadline_1d", "overdue"]).exists()  # fmt: skip
    action = RequiredAction.objects.filter(side="partner", resolved_at__isnull=True).first()
    for role in ("viewer", "operator", "admin"):
        client.force_login(make_user(role, username=f"demo-{role}"))
        for url in ["/alerts/", "/alerts/?status=all", "/alerts/notifications/",
                    "/outreach/templates/", f"/actions/{action.pk}/", "/meters/sync/",
                    *[f"/alerts/{a.pk}/" for a in Alert.objects.all()[:30]]]:  # fmt: skip
            assert client.get(url).status_code == 200, (role, url)

    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    pref = notify.start_preference(make_user("operator", username="demo-op", email="op@demo"))
    pref.email_enabled, pref.last_alert_id = True, 0
    pref.save()
    notify.notify_all()
    assert sending.send_due()["sent"] == 1
    (written,) = tmp_path.iterdir()
    text = written.read_text()
    assert "To: op@demo" in text and "new alerts since the last message" in text
    assert OutboundMessage.objects.get().status == "sent"
