"""Fixtures of the leap tests: a client on a MockTransport that records its sleeps; a simulator."""

from __future__ import annotations

import httpx
import pytest

from leap import LeapClient
from leap.simulator import Simulator
from tests.leap.client_fakes import BASE, KEY
from tests.leap.simulator_fakes import NOW


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(sleeps):
    clients = []

    def make(handler, **kwargs) -> LeapClient:
        kwargs.setdefault("max_retries", 3)
        kwargs.setdefault("rng", lambda: 1.0)  # the jitter's upper bound, so waits are exact
        client = LeapClient(
            BASE, KEY, transport=httpx.MockTransport(handler), sleep=sleeps.append, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def sim():
    return Simulator(seed=7, meters=200, now=NOW)
