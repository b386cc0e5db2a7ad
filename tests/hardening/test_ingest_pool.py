"""The receivers' own web pool (leapportal/wsgi_ingest.py): Leap's webhooks with a lean chain.

In-process, the pool's URL conf and middleware (INGEST_MIDDLEWARE) through Django's test client;
then the real entry module under gunicorn, as the README's production notes run it.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from django.conf import settings
from django.test import Client, override_settings

from dispatch.models import DispatchDelivery
from leapportal import conf
from leapportal.models import WebhookAuthFailure
from meters.models import WebhookDelivery
from tests.dashboard.factories import make_meter
from tests.hardening.services import WebServer
from tests.hardening.test_faults import (
    DISPATCH_HEADERS,
    METER_HEADERS,
    dispatch_body,
    fault_env,
    meter_event_body,
)

INGEST = override_settings(MIDDLEWARE=conf.INGEST_MIDDLEWARE, ROOT_URLCONF="leapportal.ingest_urls")


def test_the_lean_chain_keeps_the_checks_every_request_needs():
    full = conf.MIDDLEWARE
    assert conf.INGEST_MIDDLEWARE == [m for m in full if m in conf.INGEST_MIDDLEWARE]  # same order
    assert "django.middleware.security.SecurityMiddleware" in conf.INGEST_MIDDLEWARE
    assert "leapportal.middleware.RejectNulBytesMiddleware" in conf.INGEST_MIDDLEWARE
    assert "django.middleware.common.CommonMiddleware" in conf.INGEST_MIDDLEWARE  # Host check
    for page_only in ("SessionMiddleware", "CsrfViewMiddleware", "AuthenticationMiddleware",
                      "AxesMiddleware", "WhiteNoiseMiddleware"):  # fmt: skip
        assert not any(m.endswith(page_only) for m in conf.INGEST_MIDDLEWARE)


def test_every_ingest_path_is_the_same_receiver_on_the_main_pool():
    """The ingest URL conf repeats the main one's receiver paths (so a proxy needs no rewrite):
    should a receiver's path change in dispatch/urls.py or meters/urls.py, this fails."""
    from django.urls import resolve

    from leapportal import ingest_urls

    for pattern in ingest_urls.urlpatterns:
        path = "/" + str(pattern.pattern)
        assert resolve(path, urlconf="leapportal.urls").func is pattern.callback, path


@pytest.mark.django_db
@INGEST
def test_ingest_pool_receives_both_kinds_of_webhook_and_serves_nothing_else():
    meter = make_meter()
    http = Client()
    event_id = uuid.uuid4()
    r = http.post(
        "/dispatch/webhooks/meter",
        dispatch_body(str(meter.meter_id), event_id),
        content_type="application/json",
        headers={settings.LEAP_WEBHOOK_HEADER: DISPATCH_HEADERS[settings.LEAP_WEBHOOK_HEADER]},
    )
    assert r.status_code == 202, r.content
    assert DispatchDelivery.objects.filter(pk=r.json()["delivery_id"]).exists()
    assert "Set-Cookie" not in r.headers and "X-Frame-Options" not in r.headers
    assert r.headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware ran

    # The group receiver and the meter event receiver are routed here too (refused: no secret).
    for receiver in ("/dispatch/webhooks/group", "/meters/webhooks/leap"):
        assert http.post(receiver, b"{}", content_type="application/json").status_code == 401
    assert WebhookAuthFailure.objects.filter(level="group").exists()
    # A bad body with the right secret is kept for inspection, as on the main pool.
    r = http.post(
        "/meters/webhooks/leap",
        b"{not json",
        content_type="application/json",
        headers={settings.LEAP_WEBHOOK_HEADER: METER_HEADERS[settings.LEAP_WEBHOOK_HEADER]},
    )
    assert r.status_code == 400
    assert WebhookDelivery.objects.filter(status="rejected").count() == 1

    assert http.get("/healthz").status_code == 200
    # Pages are not served by this pool (not a redirect to a login it does not have).
    for page in ("/", "/meters/", "/dispatch/", "/accounts/login/", "/admin/"):
        assert http.get(page).status_code == 404, page
    # The checks it keeps: the Host header and the NUL byte.
    assert http.get("/healthz", headers={"host": "evil.example"}).status_code == 400
    assert http.get("/healthz?x=%00").status_code == 400


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_ingest_entry_under_gunicorn_stores_webhooks_with_the_lean_chain(celery_workers):
    """The production command of the receivers' pool, with a queue nobody drains: stored, 2xx."""
    env = fault_env(celery_workers)
    meter = make_meter()
    ingest = WebServer(env, name="ingest", app="leapportal.wsgi_ingest:application").start()
    try:
        http = httpx.Client(base_url=ingest.url, timeout=30)
        event_id = uuid.uuid4()
        r = http.post("/dispatch/webhooks/meter", content=dispatch_body(str(meter.meter_id), event_id),
                      headers=DISPATCH_HEADERS)  # fmt: skip
        assert r.status_code == 202, ingest.log_tail()
        delivery = DispatchDelivery.objects.get(pk=r.json()["delivery_id"])
        assert delivery.status == DispatchDelivery.Status.RECEIVED
        # The lean chain is the one loaded: no X-Frame-Options (the page chain sets it).
        assert "x-frame-options" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"

        r = http.post("/meters/webhooks/leap", content=meter_event_body(str(meter.meter_id)),
                      headers=METER_HEADERS)  # fmt: skip
        assert r.status_code == 202, ingest.log_tail()
        assert WebhookDelivery.objects.filter(status="received").count() == 1

        assert http.get("/meters/").status_code == 404
        assert http.get("/healthz", headers={"host": "evil.example"}).status_code == 400
    finally:
        ingest.stop()
