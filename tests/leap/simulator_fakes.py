"""Helpers of the simulator's tests: a client on its transport, a paging loop, a recording inbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx

from leap.simulator import Simulator

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
BASE = "http://leap.test"


def http(sim: Simulator, key: str | None = "default") -> httpx.Client:
    headers = (
        {}
        if key is None
        else {"Authorization": f"Bearer {sim.api_key if key == 'default' else key}"}
    )
    return httpx.Client(base_url=BASE, transport=sim.transport(), headers=headers)


def all_pages(client: httpx.Client, path: str, body: dict) -> list[list[dict]]:
    pages, token = [], None
    while True:
        answer = client.post(path, json={**body, **({"page_token": token} if token else {})})
        assert answer.status_code == 200, answer.text
        data = answer.json()
        pages.append(data["meters"])
        token = data.get("next_page_token")
        if not token:
            return pages


class Inbox:
    """A deliver_to that records deliveries and answers from a script."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.got: list[tuple[str, dict, dict]] = []

    def __call__(self, url, headers, content):
        self.got.append((url, headers, json.loads(content)))
        return self.statuses.pop(0) if self.statuses else 200
