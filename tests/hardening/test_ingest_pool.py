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
from tests.hardening.services import WebServer, wait_until
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


def _drop_connections(application_name: str) -> int:
    """Have PostgreSQL end the sessions of that application (as a restart would), and wait until
    they are gone; returns how many there were."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [application_name],
        )
        (dropped,) = cursor.fetchone()

    def gone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                [application_name],
            )
            return cursor.fetchone()[0] == 0

    wait_until(gone, timeout=10, what="the dropped sessions to end")
    return dropped


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_ingest_entry_reconnects_once_when_postgresql_dropped_its_kept_connection(
    celery_workers,
):
    """The receivers' pool keeps no CONN_HEALTH_CHECKS (a `SELECT 1` before every request): a
    connection PostgreSQL dropped between requests is found by using it, and the request runs
    again on a new one. Every kind of request the pool serves still gets its answer, not a 500,
    and what was accepted is stored once."""
    tag = f"lp-ingest-{uuid.uuid4().hex[:10]}"
    env = fault_env(celery_workers)
    env["DATABASE_URL"] += f"?application_name={tag}"
    meter = make_meter()
    ingest = WebServer(env, workers=1, name="ingest-drop", app="leapportal.wsgi_ingest:application")
    ingest.start()
    try:
        http = httpx.Client(base_url=ingest.url, timeout=30)
        event_ids = []

        def dispatch_notification() -> int:
            event_ids.append(uuid.uuid4())
            body = dispatch_body(str(meter.meter_id), event_ids[-1])
            return http.post(
                "/dispatch/webhooks/meter", content=body, headers=DISPATCH_HEADERS
            ).status_code

        requests = {
            "dispatch notification": (dispatch_notification, 202),
            "meter event": (lambda: http.post("/meters/webhooks/leap", headers=METER_HEADERS,
                            content=meter_event_body(str(meter.meter_id))).status_code, 202),
            "no secret": (lambda: http.post("/dispatch/webhooks/group", content=b"{}",
                          headers={"content-type": "application/json"}).status_code, 401),
            "healthz": (lambda: http.get("/healthz").status_code, 200),
        }  # fmt: skip
        for what, (send, expected) in requests.items():
            # The process keeps a connection from this request, which PostgreSQL then drops.
            assert dispatch_notification() == 202, ingest.log_tail()
            assert _drop_connections(tag) == 1, what
            assert send() == expected, (what, ingest.log_tail())
        assert ingest.log_tail(200).count("connection dropped since the last request") == 4
    finally:
        ingest.stop()
    stored = DispatchDelivery.objects.filter(status="received").values_list("body", flat=True)
    assert len(stored) == len(event_ids) == 5
    assert WebhookDelivery.objects.filter(status="received").count() == 1
    assert WebhookAuthFailure.objects.get(level="group").count == 1


@pytest.mark.django_db(transaction=True)
def test_only_a_kept_connection_outside_a_transaction_is_tried_again():
    from django.db import IntegrityError, OperationalError, connection, transaction

    from leapportal.receivers import on_a_live_connection

    calls = []

    def failing(error=OperationalError):
        calls.append(error)
        raise error("server closed the connection unexpectedly")

    def attempts(**kwargs) -> int:
        calls.clear()
        with pytest.raises((OperationalError, IntegrityError)):
            on_a_live_connection(lambda: failing(**kwargs))
        return len(calls)

    connection.close()
    assert attempts() == 1  # a new connection that fails: the database is down, the sender retries
    connection.ensure_connection()
    assert attempts() == 2  # a kept one: closed, opened again, tried once more
    assert attempts(error=IntegrityError) == 1  # not a connection's failure
    with transaction.atomic():
        assert attempts() == 1  # the caller's transaction is not ours to retry
    assert on_a_live_connection(lambda: DispatchDelivery.objects.count()) == 0
