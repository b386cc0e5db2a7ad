"""The simulator's request and reply, and the error envelopes of Leap's services.

Every handler module (api, admin, jobs_api, settlement) builds on these; none of them needs api.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, overload

import orjson

from .validate import Invalid

PLAIN_500 = "An error happened whilst processing your request"


def dumps(data: Any) -> bytes:
    """Compact JSON bytes."""
    try:  # orjson: a tenth of the standard library's CPU on a page of 500 meters
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer beyond 64 bits (orjson.JSONEncodeError is a TypeError)
        return json.dumps(data, separators=(",", ":")).encode()


@dataclass
class Reply:
    """A response before it is put on the wire."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    fault: str | None = None
    drop: bool = False
    delay: float = 0.0
    route: str | None = None

    @classmethod
    def json(cls, status: int, data: Any, **kw: Any) -> Reply:
        """A JSON reply."""
        return cls.json_bytes(status, dumps(data), **kw)

    @classmethod
    def json_bytes(cls, status: int, body: bytes, **kw: Any) -> Reply:
        """A JSON reply whose body is already encoded."""
        return cls(status, body, [("content-type", "application/json")], **kw)

    @classmethod
    def text(cls, status: int, text: str, **kw: Any) -> Reply:
        """A plain-text reply (Leap's 500s)."""
        return cls(status, text.encode(), [("content-type", "text/plain; charset=utf-8")], **kw)


@dataclass
class Call:
    """An incoming request, already split up."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    data: Any = None
    query: dict[str, list[str]] = field(default_factory=dict)

    @overload
    def arg(self, name: str) -> str | None: ...
    @overload
    def arg(self, name: str, default: str) -> str: ...
    @overload
    def arg(self, name: str, default: str | None) -> str | None: ...
    def arg(self, name: str, default: str | None = None) -> str | None:
        """The last value of a query parameter (default when absent)."""
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        """The body as JSON ({} when empty); raises Invalid on bad JSON."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise Invalid("body", "is not valid JSON") from None


class Service:
    """Error envelopes of one of Leap's services (each service has its own error body)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def error(self, status: int, message: str, details: dict[str, Any] | None = None) -> Reply:
        """An error reply in this service's own envelope."""
        titles = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            405: "Method Not Allowed",
            410: "Gone",
            415: "Unsupported Media Type",
            429: "Too Many Requests",
        }
        title = titles.get(status, "Error")
        if self.name == "dispatch":
            codes = {
                400: ("BAD_REQUEST", "DISPATCH_INVALID_INPUT"),
                401: ("UNAUTHORIZED", "DISPATCH_UNAUTHORIZED"),
                403: ("FORBIDDEN", "DISPATCH_NO_ACCESS_TO_RESOURCE"),
                404: ("NOT_FOUND", "DISPATCH_NO_ACCESS_TO_RESOURCE"),
                405: ("METHOD_NOT_ALLOWED", "DISPATCH_INVALID_INPUT"),
                429: ("SERVICE_UNAVAILABLE", "DISPATCH_UNEXPECTED_ERROR"),
            }
            code, error_code = codes.get(
                status, ("INTERNAL_SERVER_ERROR", "DISPATCH_UNEXPECTED_ERROR")
            )
            return Reply.json(status, {"code": code, "message": message, "error_code": error_code})
        if self.name == "settlement":
            problem = message or title
            return Reply.json(
                status,
                {
                    "title": title,
                    "status": status,
                    "details": [{"message": title, "description": problem}],
                },
            )
        if self.name in ("webhooks", "admin"):
            return Reply.json(status, {"error": title, "message": message})
        body: dict[str, Any] = {"title": title, "status": status, "details": details or {}}
        if message and not details:
            body["details"] = {"message": message}
        return Reply.json(status, body)


METERS, ENROLLMENTS, DISPATCH, WEBHOOKS, ADMIN, SETTLEMENT, CREATE_METERS = (
    Service("meters"),
    Service("enrollments"),
    Service("dispatch"),
    Service("webhooks"),
    Service("admin"),
    Service("settlement"),
    Service("create-meters"),
)
UUIDISH = r"[^/]+"


def query_key(query: dict[str, Any]) -> str:
    """A short digest of a search's filters: a page token is good for that search only."""
    relevant = {k: v for k, v in query.items() if k not in ("page_token", "page_size")}
    return hashlib.sha256(json.dumps(relevant, default=str, sort_keys=True).encode()).hexdigest()[
        :12
    ]
