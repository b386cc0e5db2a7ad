"""Canned Leap objects and a recording MockTransport handler for the client's tests."""

from __future__ import annotations

import json
from uuid import UUID

import httpx

BASE = "https://api.staging.leap.energy"
KEY = "AbCdEf0123456789:s3cr3t-value"


def meter(n: int, **extra) -> dict:
    return {
        "meter_id": str(UUID(int=n)),
        "transmission_region": "CAISO",
        "is_archived": False,
        "customer": {"city": "Fresno"},
        "audit": {"created_at": "2026-01-01T00:00:00Z"},
        **extra,
    }


def enrollment(n: int) -> dict:
    return {
        "meter_id": str(UUID(int=n)),
        "transmission_region": "CAISO",
        "global_enrollment_status": "ACTIVE",
        "required_actions": {"partner": [], "leap": []},
    }


class Recorder:
    """A MockTransport handler that answers from a script and records every request."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.responses:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) if r.content else None for r in self.requests]
