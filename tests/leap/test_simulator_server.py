"""The simulator as a real server over loopback: the client, dropped sockets, webhook POSTs, admin API
and `manage.py leap_simulator`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from leap.client import LeapClient
from leap.errors import LeapUnavailable
from leap.simulator import Simulator
from leap.simulator.server import SimulatorServer

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def served():
    sim = Simulator(seed=4, meters=300, now=NOW, changes_per_hour=0)
    with SimulatorServer(sim).serve_in_thread() as server:
        yield sim, server.url


class Receiver:
    """A tiny HTTP receiver recording what it is sent."""

    def __init__(self, status: int = 200, on_post=None):
        self.got: list[tuple[str, dict[str, str], dict]] = []
        self.status = status
        self.on_post = on_post
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.got.append(
                    (self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(body))
                )
                status = outer.on_post() if outer.on_post else outer.status
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    box = Receiver()
    yield box
    box.close()


def test_the_real_client_pages_over_loopback(served):
    sim, url = served
    client = LeapClient(url, sim.api_key, timeout=5, max_retries=3, sleep=lambda s: None)
    ids = [str(m.meter_id) for m in client.iter_meters(page_size=100)]
    assert ids == sim.meter_ids()
    enrollments = list(client.iter_enrollments())
    assert len(enrollments) == 300
    assert sim.requests.count("POST /v2/meters/search") == 3


def test_a_dropped_connection_closes_the_socket(served):
    sim, url = served
    sim.faults.add("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(
            f"{url}/v2/meters/search", json={}, headers={"Authorization": f"Bearer {sim.api_key}"}
        )
    sim.faults.add("drop", times=10)
    client = LeapClient(url, sim.api_key, timeout=5, max_retries=2, sleep=lambda s: None)
    with pytest.raises(LeapUnavailable):
        client.get_meter(sim.meter_ids(1)[0])


def test_webhooks_are_posted_with_lowercased_headers(served, receiver):
    sim, url = served
    auth = {"Authorization": f"Bearer {sim.api_key}"}
    httpx.post(
        f"{url}/v1.1/webhooks",
        headers=auth,
        json={
            "receiver_url": f"{receiver.url}/leap/meters",
            "event_types": ["meter.created"],
            "headers": [{"name": "X-LeapPortal-Secret", "value": "abc"}],
        },
    ).raise_for_status()
    httpx.put(
        f"{url}/v2/dispatch/meter/webhook",
        headers=auth,
        json={
            "url": f"{receiver.url}/leap/dispatch",
            "headers": [{"name": "X-Dispatch-Key", "value": "k"}],
        },
    ).raise_for_status()
    added = sim.add_meter(region="PJM")
    sim.create_dispatch(meter_ids=[added.meter_id])
    sim.deliver_due()
    paths = {path: (headers, body) for path, headers, body in receiver.got}
    headers, body = paths["/leap/meters"]
    assert headers["x-leapportal-secret"] == "abc" and headers["content-type"] == "application/json"
    assert body["payload"]["webhook_event_type"] == "meter.created"
    assert body["payload"]["meter_id"] == added.meter_id
    headers, body = paths["/leap/dispatch"]
    assert headers["x-dispatch-key"] == "k"
    assert body["meter_dispatches"][0]["meter_id"] == added.meter_id
    assert all(d.state == "delivered" for d in sim.deliveries)


def test_the_admin_api_needs_its_own_token_and_drives_the_simulator(served):
    sim, url = served
    admin = {"Authorization": f"Bearer {sim.admin_token}"}
    assert httpx.get(f"{url}/_sim/state").status_code == 401
    assert (
        httpx.get(
            f"{url}/_sim/state", headers={"Authorization": f"Bearer {sim.api_key}"}
        ).status_code
        == 403
    )
    assert httpx.get(f"{url}/_sim/state", headers=admin).json()["meters"] == 300
    target = sim.meter_ids()[2]
    assert (
        httpx.post(
            f"{url}/_sim/meters/{target}/status", headers=admin, json={"status": "INELIGIBLE"}
        ).status_code
        == 200
    )
    assert sim.meter(target).global_status == "INELIGIBLE"
    assert (
        httpx.post(
            f"{url}/_sim/meters/{target}/status", headers=admin, json={"status": "BOGUS"}
        ).status_code
        == 400
    )
    opened = httpx.post(
        f"{url}/_sim/meters/{target}/actions", headers=admin, json={"code": "XYZ_0042"}
    )
    assert opened.status_code == 201 and opened.json()["action_code"] == "XYZ_0042"
    assert (
        httpx.delete(f"{url}/_sim/meters/{target}/actions/XYZ_0042", headers=admin).status_code
        == 200
    )
    added = httpx.post(
        f"{url}/_sim/meters", headers=admin, json={"count": 2, "region": "ISONE"}
    ).json()
    assert len(added["meter_ids"]) == 2 and len(sim.portfolio) == 302
    created = httpx.post(
        f"{url}/_sim/dispatches",
        headers=admin,
        json={"meter_ids": added["meter_ids"], "program": "NATGRID-CS"},
    ).json()
    event = created["event_ids"][0]
    assert (
        httpx.patch(
            f"{url}/_sim/dispatches/{event}", headers=admin, json={"energy_kw": 3.5}
        ).json()["version"]
        == 2
    )
    assert httpx.delete(f"{url}/_sim/dispatches/{event}", headers=admin).json()["cancelled"] is True
    assert (
        httpx.post(
            f"{url}/_sim/faults", headers=admin, json={"kind": "429", "retry_after": 0}
        ).status_code
        == 201
    )
    assert (
        httpx.post(
            f"{url}/v2/meters/search", headers={"Authorization": f"Bearer {sim.api_key}"}, json={}
        ).status_code
        == 429
    )
    moved = httpx.post(
        f"{url}/_sim/advance", headers=admin, json={"minutes": 90, "changes": 2}
    ).json()
    assert len(moved["changes"]) == 2 and moved["now"].startswith("2026-11-24T09:30")
    listed = httpx.get(f"{url}/_sim/scenarios", headers=admin).json()["scenarios"]
    assert "null_energy" in listed and listed["null_energy"]
    ran = httpx.post(f"{url}/_sim/scenarios/null_energy", headers=admin)
    assert ran.status_code == 201 and ran.json()["event_ids"]
    assert httpx.post(f"{url}/_sim/scenarios/nope", headers=admin).status_code == 400
    groups = httpx.get(f"{url}/_sim/groups", headers=admin).json()["market_groups"]
    assert groups and {"market_group_id", "program", "delivery_period"} <= set(groups[0])


def test_the_management_command_serves_until_stopped():
    env = {**os.environ, "DEBUG": "true"}
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "leap_simulator",
            "--meters",
            "50",
            "--seed",
            "3",
            "--port",
            "0",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line or not line:
                break
        text = "".join(lines)
        url = next(line.split()[-1] for line in lines if "URL:" in line)
        key = next(line.split()[-1] for line in lines if "API key:" in line)
        assert "admin token:" in text and "50 meters, seed 3" in text
        page = httpx.post(
            f"{url}/v2/meters/search", headers={"Authorization": f"Bearer {key}"}, json={}
        ).json()
        assert len(page["meters"]) == 50
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_receiver_may_call_the_api_back_while_a_webhook_is_delivered(served):
    """The portal with eager Celery re-reads the meter inside its webhook view: no deadlock."""
    sim, url = served
    target = sim.meter_ids()[0]

    def call_back():
        answer = httpx.get(
            f"{url}/v2/meters/{target}/enrollments",
            headers={"Authorization": f"Bearer {sim.api_key}"},
            timeout=3,
        )
        return 200 if answer.status_code == 200 else 500

    calls = []

    def counted():
        calls.append(1)
        return call_back()

    box = Receiver(on_post=counted)
    try:
        sim.register_webhook(f"{box.url}/hook")
        sim.set_global_status(target, "ACTIVE")
        admin = {"Authorization": f"Bearer {sim.admin_token}"}
        started = time.monotonic()
        httpx.post(
            f"{url}/_sim/advance", headers=admin, json={"minutes": 1, "changes": 0}, timeout=10
        )
        assert time.monotonic() - started < 3
        assert sim.deliveries[0].state == "delivered" and calls == [1]
    finally:
        box.close()
