"""The webhook inbox base: what both receivers (meter events, dispatch notifications) do the same way.

A receiver is an `Inbox` subclass that names its secrets, its size limit and its refusal counter,
and says how it keeps a refused body and an accepted one. `Inbox.receive` does the rest, in order:

- The secret header is checked in constant time against every accepted secret (several during a
  rotation). A request without it is answered 401 and only counted, per day and receiver: its
  body is not read, because it is not Leap's and keeping it would let anyone fill the database.
- The body is read bounded, never whole: a sender without a size limit of its own cannot make a
  web process hold an arbitrary amount of memory. Over the limit: 413, the first bytes kept.
- Only JSON is taken (`Content-Type: application/json`, any parameters); anything else is answered
  415, and a body that does not parse 400; both are kept as rejected deliveries for inspection.
- The receiver then checks its own shape, stores the delivery (store first), queues its processing
  after commit and answers 202: the processing happens in a worker, well inside Leap's 10 seconds.
- The headers kept with a delivery never include the secret or anything else that authenticates.

A delivery that has committed always gets its 2xx: waking its task through the broker is best
effort (`publish_quietly`). With the broker down the publish fails, the failure is logged, and the
periodic sweep (dispatch/sweep.py) queues the delivery once the broker is back. Answering 500
instead would make Leap deliver the same event again and again for 50 minutes, each one stored.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    models,
    transaction,
)
from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

log = logging.getLogger(__name__)

T = TypeVar("T")

JSON_TYPES = {"application/json"}
# Never stored with a delivery, besides the secret header itself: whatever could authenticate.
NEVER_STORED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


def secret_matches(presented: str, accepted: Iterable[str]) -> bool:
    """True if `presented` is one of the `accepted` secrets; constant time over all of them."""
    candidate = presented.encode()
    matched = False
    for secret in accepted:
        # No short-circuit: the time taken does not tell which secret (if any) matched.
        matched |= hmac.compare_digest(candidate, secret.encode())
    return matched and bool(presented)


def stored_headers(request: HttpRequest) -> dict[str, str]:
    """The request's headers without the shared secret or anything else that authenticates."""
    drop = NEVER_STORED_HEADERS | {settings.LEAP_WEBHOOK_HEADER.lower()}
    return {k: v for k, v in request.headers.items() if k.lower() not in drop}


def count_refusal(
    counter: type[models.Model], receiver: str, *, reason: str, remote_addr: str | None
) -> None:
    """Add one to today's refused-request counter of `receiver`.

    `counter` is the model of the counter rows: `day`, `level` (the receiver), `count`, `last_at`,
    `last_reason` and `last_remote_addr`, unique on (day, level).
    """
    now = timezone.now()
    values = {
        "count": F("count") + 1,
        "last_at": now,
        "last_reason": reason,
        "last_remote_addr": remote_addr,
    }
    counters = counter.objects.filter(day=now.date(), level=receiver)
    if counters.update(**values):
        return
    try:
        with transaction.atomic():
            counter.objects.create(
                day=now.date(),
                level=receiver,
                count=1,
                last_at=now,
                last_reason=reason,
                last_remote_addr=remote_addr,
            )
    except IntegrityError:  # another request created today's row first
        counters.update(**values)


def content_type_problem(request: HttpRequest) -> str | None:
    """Why the request's Content-Type is not JSON, or None when it is."""
    raw = request.META.get("CONTENT_TYPE", "")
    media = raw.split(";", 1)[0].strip().lower()
    if media in JSON_TYPES:
        return None
    shown = raw[:80] if raw else "none"
    return f"Content-Type must be application/json, got {shown}"


def read_bounded(request: HttpRequest, limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of the body; the flag says whether there was more."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    # read() goes to the (Content-Length bounded) stream, not request.body, so an oversized body
    # is never loaded whole.
    body = request.read(limit + 1)
    too_big = len(body) > limit or (declared.isdigit() and int(declared) > limit)
    return body[:limit], too_big


def publish_quietly(publish: Callable[..., Any], *args: Any, what: str) -> bool:
    """Call `publish(*args)`; a broker failure is logged, not raised. True when it went out."""
    try:
        publish(*args)
    except Exception:  # kombu's OperationalError, redis' ConnectionError, a timeout, ...
        log.warning("could not queue %s (broker down?); the sweep will pick it up", what,
                    exc_info=True)  # fmt: skip
        return False
    return True


def on_a_live_connection(work: Callable[[], T]) -> T:
    """Run `work` (a request's database work); if the connection this thread kept from an earlier
    request turns out dead, close it and run `work` once more on a new one.

    The receivers' pool (leapportal/wsgi_ingest.py) runs without CONN_HEALTH_CHECKS: Django's
    check is a `SELECT 1` round trip before each request's first query, a tenth of the pool's
    CPU (0.88 against 0.78 ms a dispatch notification in process, docs/benchmarks.md). A connection only dies
    between requests when PostgreSQL restarts or drops it, so the receivers find out by using
    it and retry instead, and the first request after a restart still gets its 2xx. A fresh
    connection that fails is not retried (the database is down: the sender gets its 5xx and
    retries later), nor is work inside a transaction the caller holds. An INSERT whose commit
    reached the database just before the connection broke is stored twice: the drain marks the
    second copy a duplicate, as it does Leap's own redeliveries.
    """
    reused = connection.connection is not None and not connection.in_atomic_block
    try:
        return work()
    except (OperationalError, InterfaceError):
        if not reused:
            raise
        log.warning("database connection dropped since the last request; reconnecting once")
        connection.close()
        return work()


class Inbox:
    """One webhook receiver: the checks every receiver makes, then the receiver's own steps.

    A subclass sets the class attributes and implements `reject` and `accept`; the view calls
    `receive`. Settings are read by name on each request, so a rotated secret or a changed limit
    (override_settings in tests) takes effect at once.
    """

    secrets_setting: str  # name of the setting listing the accepted secrets
    max_bytes_setting: str  # name of the setting bounding the body
    refusals: type[models.Model]  # the refused-request counter (see count_refusal)
    unauthorized = "missing or wrong webhook secret"

    def __init__(self, receiver: str) -> None:
        self.receiver = receiver  # the key of this receiver's refusal counter

    def receive(self, request: HttpRequest) -> JsonResponse:
        """Authenticate, read, check and hand over one delivery; the answer to send back."""
        presented = request.headers.get(settings.LEAP_WEBHOOK_HEADER, "")
        if not secret_matches(presented, getattr(settings, self.secrets_setting)):
            on_a_live_connection(
                lambda: count_refusal(
                    self.refusals,
                    self.receiver,
                    reason="wrong secret" if presented else "missing secret",
                    remote_addr=request.META.get("REMOTE_ADDR") or None,
                )
            )
            return JsonResponse({"error": self.unauthorized}, status=401)

        limit = getattr(settings, self.max_bytes_setting)
        raw, too_big = read_bounded(request, limit)
        body = self.decode(raw)
        return on_a_live_connection(lambda: self._checked(request, body, raw, too_big, limit))

    def _checked(
        self, request: HttpRequest, body: Any, raw: bytes, too_big: bool, limit: int
    ) -> JsonResponse:
        """The read body's checks, then `reject` or `accept` (run again on a dropped connection)."""
        if problem := content_type_problem(request):
            return self.reject(request, body, 415, problem, truncated=too_big)
        if too_big:
            error = f"body larger than {limit} bytes; the first {len(raw)} bytes were kept"
            return self.reject(request, body, 413, error, truncated=True)
        try:
            data = json.loads(body)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            return self.reject(request, body, 400, f"invalid JSON: {exc}")
        return self.accept(request, body, data)

    def decode(self, raw: bytes) -> bytes | str:
        """The body as this receiver stores it (the bytes as they came, by default)."""
        return raw

    def reject(
        self, request: HttpRequest, body: Any, status: int, error: str, *, truncated: bool = False
    ) -> JsonResponse:
        """Keep a refused body for inspection and tell the sender why (`status`, `error`)."""
        raise NotImplementedError

    def accept(self, request: HttpRequest, body: Any, data: Any) -> JsonResponse:
        """Check the parsed body's shape, store it, queue its processing after commit, answer."""
        raise NotImplementedError
