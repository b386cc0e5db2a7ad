"""Handing on: signed Standard Webhooks to our endpoints, with retries and a delivery log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from dispatch import outbound
from dispatch.models import OutboundEndpoint, OutboundMessage
from tests.dispatch.helpers import T0, iso, meter_notification, slot

pytestmark = pytest.mark.django_db


class Receiver:
    """A real HTTP endpoint on loopback that records requests and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = outer.statuses.pop(0) if outer.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def endpoint(db, receiver):
    return OutboundEndpoint.objects.create(name="device-control", url=receiver.url)


def test_the_signature_matches_the_standard_webhooks_reference_vector():
    # The example of the Standard Webhooks specification (and its reference libraries).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = outbound.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_new_event_is_handed_on_signed_and_verifiable(deliver, make_meter, endpoint, receiver):
    meter, event = make_meter(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(event)])))

    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    # Verified independently of our code: HMAC-SHA256 over "id.timestamp.body" with the key.
    key = base64.b64decode(endpoint.secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert outbound.verify(endpoint.secret, headers, body)
    assert not outbound.verify(endpoint.secret, headers, body + b" ")
    assert not outbound.verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)

    payload = json.loads(body)
    assert payload["type"] == "timeslot.created"
    data = payload["data"]
    assert data["event_id"] == str(event) and data["meter_id"] == str(meter.pk)
    assert data["meters"] == [
        {
            "meter_id": str(meter.pk),
            "share_kw": 8.0,
            "planned_kw": 8.0,
            "bound_by": "award",
            "segments": [[iso(T0), iso(T0 + timedelta(hours=1))]],
            "follow": True,
            "overruled_by": None,
            "reason": "",
            "flags": [],
        }
    ]
    assert (data["special"], data["capacity_test"], data["may_export"]) == ([], False, False)
    assert data["plan_from"] == iso(T0)
    message = OutboundMessage.objects.get()
    assert message.status == "delivered" and message.attempts == 1
    assert message.log.get().status_code == 204


def test_each_change_of_state_is_handed_on_once(deliver, make_meter, endpoint, receiver):
    meter, event = make_meter(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(event)])))
    deliver(meter_notification((meter.pk, [slot(event)]), (make_meter().pk, [])))  # same content
    deliver(meter_notification((meter.pk, [slot(event, energy_kw=3.0)])))
    deliver(meter_notification((meter.pk, [slot(event, energy_kw=3.0, cancelled=True)])))

    types = [json.loads(body)["type"] for _, body in receiver.requests]
    assert types == ["timeslot.created", "timeslot.updated", "timeslot.cancelled"]
    ids = {h["webhook-id"] for h, _ in receiver.requests}
    assert len(ids) == 3


def test_an_event_overruled_by_a_new_one_is_handed_on_as_changed(
    deliver, make_meter, endpoint, receiver
):
    meter, low, high = make_meter(), uuid.uuid4(), uuid.uuid4()
    deliver(meter_notification((meter.pk, [slot(low, priority=5)])))
    deliver(meter_notification((meter.pk, [slot(high, priority=1)])))

    sent = [json.loads(body) for _, body in receiver.requests]
    assert [(p["type"], p["data"]["event_id"]) for p in sent][0] == ("timeslot.created", str(low))
    later = {p["data"]["event_id"]: p for p in sent[1:]}
    assert later[str(low)]["type"] == "timeslot.updated"
    assert later[str(low)]["data"]["meters"][0]["follow"] is False
    assert later[str(low)]["data"]["meters"][0]["overruled_by"] == str(high)
    assert later[str(high)]["type"] == "timeslot.created"


def test_failures_are_retried_with_backoff_and_logged(
    deliver, make_meter, endpoint, receiver, settings, time_machine
):
    settings.DISPATCH_OUTBOUND_RETRY_DELAYS = [10, 60]
    receiver.statuses = [500, 503]
    time_machine.move_to(timezone.now(), tick=False)
    deliver(meter_notification((make_meter().pk, [slot()])))

    message = OutboundMessage.objects.get()
    assert (message.status, message.attempts, message.last_status_code) == ("retrying", 1, 500)
    assert message.next_attempt_at == timezone.now() + timedelta(seconds=10)
    assert outbound.send(message.pk) is None  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    time_machine.shift(timedelta(seconds=10))
    assert outbound.send(message.pk) == 60
    time_machine.shift(timedelta(seconds=60))
    assert outbound.send(message.pk) is None

    message.refresh_from_db()
    assert (message.status, message.attempts) == ("delivered", 3)
    assert [a.status_code for a in message.log.order_by("attempted_at")] == [500, 503, 204]
    assert len({h["webhook-id"] for h, _ in receiver.requests}) == 1  # same id on every retry
    assert "HTTP 500" in message.log.order_by("attempted_at").first().error


def test_a_message_is_marked_failed_after_the_last_retry(
    make_meter, endpoint, receiver, settings, deliver
):
    settings.DISPATCH_OUTBOUND_RETRY_DELAYS = [0]
    receiver.statuses = [500, 500, 500]
    deliver(meter_notification((make_meter().pk, [slot()])))
    message = OutboundMessage.objects.get()
    outbound.send(message.pk)

    message.refresh_from_db()
    assert message.status == "failed" and message.attempts == 2
    assert message.log.count() == 2


def test_an_unreachable_endpoint_is_logged_and_retried(make_meter, deliver, db):
    OutboundEndpoint.objects.create(name="down", url="http://127.0.0.1:9/hook")
    deliver(meter_notification((make_meter().pk, [slot()])))

    message = OutboundMessage.objects.get()
    assert message.status == "retrying" and message.last_status_code is None
    assert "ConnectError" in message.log.get().error


def test_inactive_endpoints_and_test_events_are_not_sent_to(make_meter, deliver, receiver, db):
    OutboundEndpoint.objects.create(name="off", url=receiver.url, active=False)
    OutboundEndpoint.objects.create(name="live-only", url=receiver.url)
    deliver(meter_notification((make_meter().pk, [slot(start=T0)]), integration_test=True))

    assert receiver.requests == []
    assert not OutboundMessage.objects.exists()
