"""Dispatch and sync work on queues of their own: a long full sync never delays a dispatch."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from dispatch.models import DispatchTimeslot
from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer
from leapportal import queues
from leapportal.celery import app
from meters import actions
from meters.models import SyncRun
from tests.conftest import REPO
from tests.dashboard.factories import make_meter
from tests.hardening.services import queue_workers
from tests.hardening.test_faults import DISPATCH_HEADERS, dispatch_body


def test_dispatch_and_sync_tasks_are_routed_to_their_own_queues():
    q = queues.names(settings.CELERY_TASK_DEFAULT_QUEUE)
    route = app.amqp.router.route
    assert route({}, "dispatch.tasks.drain_deliveries")["queue"].name == q["dispatch"]
    assert route({}, "dispatch.tasks.reconcile_dispatches")["queue"].name == q["dispatch"]
    assert route({}, "dispatch.tasks.send_outbound")["queue"].name == q["dispatch"]
    assert route({}, "meters.tasks.run_sync")["queue"].name == q["sync"]
    assert route({}, "meters.tasks.process_meter_webhook")["queue"].name == q["sync"]
    assert route({}, "leapportal.tasks.record_worker_heartbeat")["queue"].name == q["default"]


def test_production_queue_names_and_per_process_test_names():
    assert queues.names("celery") == {"default": "celery", "dispatch": "dispatch", "sync": "sync"}
    mine = queues.names(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert str(os.getpid()) in mine["dispatch"] and str(os.getpid()) in mine["sync"]
    # What a parallel pytest process (xdist, or another engineer's run) would use: no overlap.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LEAPPORTAL_TESTING": "true"}
    env.pop("CELERY_QUEUE", None)
    other = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(sorted(settings.QUEUE_NAMES.values()))"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert not set(mine.values()) & set(ast.literal_eval(other))
    out = subprocess.run(
        [sys.executable, "-m", "leapportal.queues", "celery", "dispatch"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == "dispatch"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_dispatch_is_applied_while_a_full_sync_keeps_the_sync_worker_busy(
    celery_workers, celery_eager_off, client
):
    celery_workers.stop()
    celery_workers.purge()
    sim = Simulator(seed=3, meters=200)
    sim.faults.add("slow", times=6, delay=2.0)  # the sync's pages come slowly
    with SimulatorServer(sim).serve_in_thread() as server:
        env = {**celery_workers.base_env, "LEAP_BASE_URL": server.url, "LEAP_SIMULATOR": "true",
               "METERS_SYNC_PAGE_SIZE": "20", "METERS_SYNC_FETCH_PROCESS": "false"}  # fmt: skip
        workers = queue_workers(env, "")
        try:
            for w in workers:
                w.start()
            sync_worker, dispatch_worker = workers
            run = actions.request_sync(SyncRun.Kind.FULL, trigger="test")
            sync_worker.wait_for(
                lambda: SyncRun.objects.get(pk=run.pk).status == "running", timeout=60,
                what="the full sync to start",
            )  # fmt: skip
            meter = make_meter()
            event_id = uuid.uuid4()
            posted = time.monotonic()
            response = client.generic(
                "POST", "/dispatch/webhooks/meter", dispatch_body(str(meter.pk), event_id),
                content_type="application/json",
                headers={settings.LEAP_WEBHOOK_HEADER: DISPATCH_HEADERS[
                    settings.LEAP_WEBHOOK_HEADER]},
            )  # fmt: skip
            assert response.status_code == 202, json.loads(response.content)
            dispatch_worker.wait_for(
                lambda: DispatchTimeslot.objects.filter(event_id=event_id).exists(),
                timeout=30, what="the dispatch to be applied",
            )  # fmt: skip
            visible_after = time.monotonic() - posted
            assert SyncRun.objects.get(pk=run.pk).status == "running"  # still syncing
            assert visible_after < 10
            sync_worker.wait_for(
                # (held: the meter made here is not in Leap, so the sync holds its removal)
                lambda: SyncRun.objects.get(pk=run.pk).status in ("done", "held"), timeout=120,
                what="the full sync to finish",
            )  # fmt: skip
        finally:
            for w in workers:
                w.stop()
