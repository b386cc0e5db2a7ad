"""The simulator's HTTP layer: Leap's paths, auth, paging, error envelopes, faults, admin API.

One `Api.handle()` serves the in-process httpx transport, the WSGI app and the threaded server.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from . import validate
from .admin import admin_routes
from .dispatch_api import dispatch_routes
from .faults import Fault
from .http import (
    ADMIN,
    CREATE_METERS,
    DISPATCH,
    ENROLLMENTS,
    METERS,
    PLAIN_500,
    SETTLEMENT,
    UUIDISH,
    WEBHOOKS,
    Call,
    Reply,
    Service,
    dumps,
    query_key,
)
from .jobs_api import job_routes
from .meter_search import meter_predicates, time_window, unfiltered
from .meter_state import MeterState
from .settlement import settlement_routes
from .validate import Invalid
from .webhooks_api import webhook_routes

if TYPE_CHECKING:
    from .simulator import Simulator


class Api:
    """Routes requests to handlers of one Simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.routes: list[tuple[str, re.Pattern[str], str, Service, Callable[[Call], Reply]]] = []
        # Handlers that POST to a receiver take the simulator's lock themselves, only around
        # state, so a receiver calling the API back meanwhile is not blocked.
        self.unlocked: set[Callable[[Call], Reply]] = set()
        route = self._route
        route("POST", "/v2/meters/search", METERS, self.meter_search)
        route("POST", "/v2/meters/enrollments/search", ENROLLMENTS, self.enrollment_search)
        route("GET", "/v2/meters/{meter_id}/enrollments", ENROLLMENTS, self.enrollment_get)
        route("GET", "/v2/meters/{meter_id}", METERS, self.meter_get)
        for method, template, handler in dispatch_routes(sim):
            route(method, template, DISPATCH, handler)
            if template.endswith("/integration_test"):
                self.unlocked.add(handler)
        for method, template, handler in webhook_routes(sim):
            route(method, template, WEBHOOKS, handler)
            if template == "/v1.1/webhooks/{webhook_id}/test":
                self.unlocked.add(handler)
        for method, template, handler in settlement_routes(self):
            route(method, template, SETTLEMENT, handler)
        for method, template, handler in job_routes(self):
            route(method, template, CREATE_METERS, handler)
        for method, template, handler in admin_routes(sim):
            route(method, template, ADMIN, handler)
            if template in ("/_sim/advance", "/_sim/deliver"):
                self.unlocked.add(handler)

    def _route(
        self, method: str, template: str, service: Service, handler: Callable[[Call], Reply]
    ) -> None:
        pattern = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>{UUIDISH})", template)
        self.routes.append((method, re.compile(f"^{pattern}$"), template, service, handler))

    @staticmethod
    def service_for(path: str) -> Service:
        """Which service's envelope an error on this path uses."""
        if path.startswith("/v2/dispatch"):
            return DISPATCH
        if path.startswith("/v1.1/webhooks"):
            return WEBHOOKS
        if path.startswith("/_sim"):
            return ADMIN
        if path.startswith(("/v1.1/revenue", "/v1.1/performance")):
            return SETTLEMENT
        if path.startswith(("/v1.1/jobs", "/v1.1/meters", "/v1.1/provisional-assets")):
            return CREATE_METERS
        if "/enrollments" in path:
            return ENROLLMENTS
        return METERS

    # --- entry point -----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes, query: str = ""
    ) -> Reply:
        """Serve one request (`query`: the raw query string, without the `?`)."""
        method = method.upper()
        headers = {k.lower(): v for k, v in headers.items()}
        call = Call(method, path, headers, body, query=parse_qs(query, keep_blank_values=True))
        reply = self._dispatch(call)
        if not path.startswith("/_sim"):
            self.sim.requests.record(method, path, reply.status, reply.route)
        if reply.fault:
            reply.headers.append(("x-simulator-fault", reply.fault))
        return reply

    def _dispatch(self, call: Call) -> Reply:
        path = call.path
        service = self.service_for(path)
        if re.match(r"^/v1(/|$)", path):
            # Meters v1 is past its end of life (supported until 2026-10-31 at the latest).
            return service.error(410, "Meters API v1 has reached its end of life; use /v2")
        allowed = []
        for method, pattern, template, route_service, handler in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            if method != call.method:
                allowed.append(method)
                continue
            call.params = match.groupdict()
            reply = self._serve(call, route_service, handler)
            reply.route = template
            return reply
        if allowed:
            return service.error(405, f"{call.method} is not allowed here")
        return service.error(404, f"No such path: {path}")

    def _serve(self, call: Call, service: Service, handler: Callable[[Call], Reply]) -> Reply:
        denied = self._auth(call, service)
        if denied is not None:
            return denied
        fault = None
        if service is not ADMIN:
            fault = self.sim.faults.take(call.method, call.path, _has_page_token(call.body))
        if fault is not None:
            early = self._fault_reply(fault, service)
            if early is not None:
                return early
        try:
            if handler in self.unlocked:
                reply = handler(call)
            else:
                with self.sim.lock:
                    reply = handler(call)
        except Invalid as exc:
            reply = service.error(
                400, f"Invalid {exc.field}: {exc.problem}", {exc.field: exc.problem}
            )
        if fault is not None:
            reply = self._fault_after(fault, reply)
        return reply

    def _auth(self, call: Call, service: Service) -> Reply | None:
        header = call.headers.get("authorization", "")
        match = re.fullmatch(r"[Bb]earer +(\S+)", header.strip())
        if not match:
            return service.error(401, "Missing or malformed Authorization header (Bearer <key>)")
        expected = self.sim.admin_token if service is ADMIN else self.sim.api_key
        if match.group(1) != expected:
            return service.error(403, "The API key is not valid for this environment")
        return None

    def _fault_reply(self, fault: Fault, service: Service) -> Reply | None:
        kind = fault.kind
        if kind == "429":
            reply = service.error(429, "Too many requests; slow down")
            if fault.retry_after is not None:
                value = fault.retry_after
                reply.headers.append(
                    ("retry-after", str(int(value)) if value == int(value) else str(value))
                )
            reply.fault = kind
            return reply
        if kind == "500":
            return Reply.text(500, PLAIN_500, fault=kind)
        if kind == "drop":
            return Reply(0, drop=True, fault=kind)
        if kind == "expired_token":
            reply = service.error(
                400, "Invalid page_token: the page token has expired", {"page_token": "expired"}
            )
            reply.fault = kind
            return reply
        return None

    def _fault_after(self, fault: Fault, reply: Reply) -> Reply:
        kind = fault.kind
        reply.fault = kind
        if kind == "slow":
            reply.delay = fault.delay
        elif kind == "torn" and reply.body:
            reply.body = reply.body[: max(1, len(reply.body) // 2)]
        elif kind == "extra_fields" and reply.status < 300 and reply.body:
            reply.body = json.dumps(_add_unknown_fields(json.loads(reply.body))).encode()
        elif kind == "null_page_token" and reply.status == 200 and reply.body:
            data = json.loads(reply.body)
            if isinstance(data, dict) and "next_page_token" not in data:
                data["next_page_token"] = None
                reply.body = json.dumps(data).encode()
        return reply

    # --- WSGI ------------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """The API as a WSGI application."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        reply = self.handle(
            environ["REQUEST_METHOD"],
            environ.get("PATH_INFO", "/"),
            headers,
            body,
            query=environ.get("QUERY_STRING", ""),
        )
        if reply.drop:
            # A WSGI app cannot close the socket itself; the server turns this into a dropped
            # connection (the threaded server in server.py drops it properly).
            raise ConnectionAbortedError("simulated dropped connection")
        if reply.delay:
            time.sleep(reply.delay)
        reason = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}  # fmt: skip
        status = f"{reply.status} {reason.get(reply.status, 'Status')}"
        start_response(status, [*reply.headers, ("content-length", str(len(reply.body)))])
        return [reply.body]

    # --- meters and enrollments ------------------------------------------------------------------

    def _meter_id(self, call: Call, service: Service) -> tuple[str | None, Reply | None]:
        raw = call.params["meter_id"]
        if not validate.is_uuid(raw):
            return None, service.error(400, "meter_id must be a UUID", {"meter_id": raw})
        meter_id = str(uuid.UUID(raw))
        if self.sim.portfolio.index_of(meter_id) is None:
            return None, Reply.json(
                404, {"title": "Meter not found", "status": 404, "details": {"meter_id": raw}}
            )
        return meter_id, None

    def meter_get(self, call: Call) -> Reply:
        """GET /v2/meters/{meter_id}."""
        meter_id, error = self._meter_id(call, METERS)
        if error:
            return error
        state = self.sim.meter(meter_id)  # type: ignore[arg-type]
        return Reply.json(200, state.detail_json(device_names=self.sim.device_names))

    def enrollment_get(self, call: Call) -> Reply:
        """GET /v2/meters/{meter_id}/enrollments."""
        meter_id, error = self._meter_id(call, ENROLLMENTS)
        if error:
            return error
        return Reply.json(200, self.sim.meter(meter_id).enrollment_json())  # type: ignore[arg-type]

    def meter_search(self, call: Call) -> Reply:
        """POST /v2/meters/search."""
        names = self.sim.device_names
        return self._search(
            call, METERS, lambda s: s.detail_json(device_names=names), kind=f"details:{names}"
        )

    def enrollment_search(self, call: Call) -> Reply:
        """POST /v2/meters/enrollments/search."""
        return self._search(call, ENROLLMENTS, lambda s: s.enrollment_json(), kind="enrollment")

    def _search(
        self,
        call: Call,
        service: Service,
        render: Callable[[Any], dict[str, Any]],
        *,
        kind: str,
    ) -> Reply:
        query = validate.meter_filter(call.json())
        key = query_key(query)
        offset = 0
        if query["page_token"]:
            offset = self._read_token(query["page_token"], key, service)
        size = query["page_size"]
        portfolio = self.sim.portfolio
        if unfiltered(query):
            # Every meter, as a full sync asks: each generated meter's JSON is made once.
            items, next_offset = portfolio.scan_rendered(
                offset, size, kind, lambda state: dumps(render(state))
            )
            body = b'{"meters":[' + b",".join(items) + b"]"
            if next_offset < portfolio.next_index:
                body += b',"next_page_token":' + dumps(self._make_token(next_offset, key))
            return Reply.json_bytes(200, body + b"}")
        prefilter, accept = meter_predicates(query)
        if query["meter_ids"]:
            indices = sorted(
                i for i in (portfolio.index_of(m) for m in query["meter_ids"]) if i is not None
            )
            page: list[MeterState] = []
            position = offset
            while position < len(indices) and len(page) < size:
                state = portfolio.get(indices[position])
                position += 1
                if accept(state):
                    page.append(state)
            more = position < len(indices)
            next_offset = position
        else:
            page, next_offset = portfolio.scan(
                offset, prefilter, accept, size, window=time_window(query)
            )
            more = next_offset < portfolio.next_index
        data: dict[str, Any] = {"meters": [render(s) for s in page]}
        if more:
            data["next_page_token"] = self._make_token(next_offset, key)
        return Reply.json(200, data)

    def _make_token(self, offset: int, key: str) -> str:
        stamp = int(self.sim.now.timestamp())
        raw = json.dumps({"o": offset, "k": key, "t": stamp}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _read_token(self, token: str, key: str, service: Service) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
            offset, token_key, stamp = int(data["o"]), str(data["k"]), int(data["t"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise Invalid("page_token", "is not a page token this search issued") from None
        if token_key != key:
            raise Invalid("page_token", "belongs to a search with other filters")
        issued = datetime.fromtimestamp(stamp, UTC)
        if self.sim.now - issued > self.sim.page_token_ttl:
            raise Invalid("page_token", "has expired; start the search again")
        return offset


def _has_page_token(body: bytes) -> bool:
    return b'"page_token"' in body and b'"page_token":null' not in body.replace(b" ", b"")


def _add_unknown_fields(data: Any) -> Any:
    """Fields Leap might add tomorrow, sprinkled over every object of a response."""
    if isinstance(data, dict):
        out = {k: _add_unknown_fields(v) for k, v in data.items()}
        if "meter_id" in out or "meters" in out or "results" in out or "webhooks" in out:
            out["leap_internal_trace"] = {"shard": 7, "generated_by": "simulator"}
            out["future_flag"] = True
        return out
    if isinstance(data, list):
        return [_add_unknown_fields(v) for v in data]
    return data
