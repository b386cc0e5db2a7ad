"""The simulator as an httpx transport: the real client talks to it without a socket."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from .api import Api


class SimulatorTransport(httpx.BaseTransport):
    """Serves each httpx request with `Api.handle()`; network faults become httpx errors."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request in-process."""
        body = request.read()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        query = request.url.query.decode("ascii", "replace")
        reply = self.api.handle(request.method, request.url.path, headers, body, query=query)
        if reply.drop:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if reply.delay:
            timeout = (request.extensions.get("timeout") or {}).get("read")
            if timeout is not None and reply.delay >= timeout:
                # What the client would see after waiting its read timeout, without the wait.
                raise httpx.ReadTimeout("simulated slow response", request=request)
            time.sleep(reply.delay)
        return httpx.Response(
            reply.status, headers=reply.headers, content=reply.body, request=request
        )
