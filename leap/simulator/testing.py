"""Helpers for tests that receive the simulator's webhooks in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.test import Client


def django_sender(client: Client) -> Callable[[str, dict[str, str], bytes], Any]:
    """A `sim.deliver_to` that POSTs through a django.test.Client (path of the URL only)."""

    def send(url: str, headers: dict[str, str], content: bytes) -> Any:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = {k: v for k, v in headers.items() if k != "content-type"}
        return client.generic("POST", path, content, content_type="application/json", headers=extra)

    return send
