"""The dispatch admin: the inbox and timeslots are inspectable, the set-up button works."""

from __future__ import annotations

import json
import uuid

import pytest

from dispatch.models import DispatchDelivery, DispatchTimeslot, OutboundEndpoint
from tests.dispatch.helpers import meter_notification, post, slot

pytestmark = pytest.mark.django_db


def test_the_inbox_and_timeslots_render_read_only(admin_client_role, deliver, make_meter):
    deliver(meter_notification((make_meter().pk, [slot()])))
    post(admin_client_role, None, raw=b"not json")
    delivery = DispatchDelivery.objects.get(status="rejected")
    ts = DispatchTimeslot.objects.get()

    assert admin_client_role.get("/admin/dispatch/dispatchdelivery/").status_code == 200
    page = admin_client_role.get(f"/admin/dispatch/dispatchdelivery/{delivery.pk}/change/")
    assert page.status_code == 200 and b"not json" in page.content
    page = admin_client_role.get(f"/admin/dispatch/dispatchtimeslot/{ts.pk}/change/")
    assert page.status_code == 200 and str(ts.event_id).encode() in page.content
    assert admin_client_role.get("/admin/dispatch/dispatchdelivery/add/").status_code == 403


def test_a_new_endpoint_is_offered_a_fresh_whsec_secret(admin_client_role):
    page = admin_client_role.get("/admin/dispatch/outboundendpoint/add/")

    assert page.status_code == 200 and b'value="whsec_' in page.content
    a = OutboundEndpoint.objects.create(name="a", url="https://a.example.com/hook")
    b = OutboundEndpoint.objects.create(name="b", url="https://b.example.com/hook")
    assert a.secret.startswith("whsec_") and a.secret != b.secret


def test_the_register_button_registers_with_leap(
    admin_client_role, leap_sim, leap_sim_django_sender, client
):
    leap_sim.deliver_to = leap_sim_django_sender(client)

    response = admin_client_role.post(
        "/admin/dispatch/dispatchdelivery/register-with-leap/", follow=True
    )

    assert response.status_code == 200
    assert set(leap_sim.dispatch_webhooks) == {"meter", "group"}
    text = response.content.decode()
    assert "OK meter receiver" in text and "OK group receiver" in text


def test_requeue_puts_a_failed_delivery_back(
    admin_client_role, make_meter, django_capture_on_commit_callbacks
):
    body = json.dumps(meter_notification((make_meter().pk, [slot(uuid.uuid4())]))).encode()
    failed = DispatchDelivery.objects.create(
        level="meter",
        body=body,
        body_sha256=DispatchDelivery.hash_body(body),
        status="failed",
        error="boom",
    )
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_role.post(
            "/admin/dispatch/dispatchdelivery/",
            {"action": "requeue", "_selected_action": [failed.pk]},
        )

    failed.refresh_from_db()
    assert failed.status == "processed" and failed.error == ""
