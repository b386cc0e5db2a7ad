"""Registering our receivers with Leap (receiver_registration) and a test notification."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from dispatch.models import DispatchDelivery, DispatchTimeslot

pytestmark = pytest.mark.django_db


def test_the_command_registers_both_receivers_and_a_test_notification_arrives(
    leap_sim, client, leap_sim_django_sender, settings, capsys, django_capture_on_commit_callbacks
):
    settings.PUBLIC_BASE_URL = "https://portal.example.com"
    leap_sim.deliver_to = leap_sim_django_sender(client)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("register_dispatch_webhooks")

    secret = settings.LEAP_DISPATCH_WEBHOOK_SECRETS[0]
    for level in ("meter", "group"):
        hook = leap_sim.dispatch_webhooks[level]
        assert hook["url"] == f"https://portal.example.com/dispatch/webhooks/{level}"
        assert hook["headers"] == [{"name": settings.LEAP_WEBHOOK_HEADER, "value": secret}]
    out = capsys.readouterr().out
    assert out.count("OK ") == 2 and "test notification answered 202" in out
    deliveries = DispatchDelivery.objects.all()
    assert {d.level for d in deliveries} == {"meter", "group"}
    assert all(d.integration_test and d.status == "processed" for d in deliveries)
    assert DispatchTimeslot.objects.count() == 2
    assert not DispatchTimeslot.objects.live().exists()


def test_the_command_reports_a_receiver_that_refuses(
    leap_sim, client, leap_sim_django_sender, settings, capsys
):
    leap_sim.deliver_to = leap_sim_django_sender(client)
    # Behind a proxy prefix our app does not know: Leap reaches nothing there.
    settings.PUBLIC_BASE_URL = "https://portal.example.com/wrong-prefix"

    with pytest.raises(CommandError):
        call_command("register_dispatch_webhooks", "--level", "meter")

    out = capsys.readouterr().out
    assert "FAILED meter receiver" in out and "answered 404" in out


def test_leap_refusing_the_registration_is_reported(leap_sim, capsys):
    leap_sim.faults.add("500", times=50)

    with pytest.raises(CommandError):
        call_command("register_dispatch_webhooks", "--no-test")

    out = capsys.readouterr().out
    assert "FAILED meter receiver" in out and "registered=False" in out
