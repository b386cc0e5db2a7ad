"""The client's chokepoint: every request goes through `ClientCore._send`.

It adds auth and User-Agent, logs the call, counts it in `stats`, classifies failures once
(leap.errors) and retries transient ones with exponential backoff and full jitter, bounded by
`max_retries` and `max_total_wait`. The parsing helpers validate envelopes, single objects and
pages (an object that does not validate goes to the page's `failures`).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from leap.client.pages import OnBad, Page
from leap.client.stats import ClientStats, _now
from leap.errors import (
    LeapBadPayload,
    LeapNotFound,
    LeapPageTokenExpired,
    LeapRejected,
    LeapUnavailable,
    error_details,
    parse_error_body,
)
from leap.schemas import RawModel, bad_payload

logger = logging.getLogger("leap.client")

T = TypeVar("T", bound=RawModel)
V = TypeVar("V")
E = TypeVar("E", bound=BaseModel)  # an envelope: a page or list wrapper, or a small response
Level = Literal["meter", "group"]

MAX_PAGE_SIZE = 500  # meters and enrollments search, and the listings: page_size is 1-500
# Statuses that mean "try again later"; every other 4xx is a permanent refusal.
TRANSIENT_STATUSES = frozenset({408, 425, 429})


# The User-Agent of a client made without one. get_client passes settings.LEAP_USER_AGENT, which
# the project's settings build from its name and version (leap/ imports nothing of the project).
USER_AGENT = "leapportal/unknown"


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or _now())).total_seconds())


def _header_list(headers: dict[str, str] | None) -> list[dict[str, str]]:
    """Leap's `[{name, value}]` header list from a mapping."""
    return [{"name": name, "value": value} for name, value in (headers or {}).items()]


@dataclass
class _Transient:
    """An attempt that failed for now: `failure` is retried if `retryable` (after `retry_after`
    seconds when Leap said how long), else raised."""

    failure: LeapUnavailable
    retryable: bool
    retry_after: float | None = None


class ClientCore:
    """What every call of the client goes through: the connection, `_send`, parsing and paging."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        transport: httpx.BaseTransport | None = None,
        max_total_wait: float = 120.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        stats: ClientStats | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        if not api_key:
            raise ValueError("a Leap API key is required")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.max_total_wait = max_total_wait
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = rng
        self.stats = stats if stats is not None else ClientStats()
        # What rebuilds this client in another process (the meter sync's fetch process): only a
        # client on the real network with the real clock can be.
        portable = transport is None and sleep is time.sleep and rng is random.random
        self._portable: dict[str, Any] | None = (
            {
                "base_url": self.base_url,
                "api_key": api_key,
                "timeout": timeout,
                "max_retries": max_retries,
                "max_total_wait": max_total_wait,
                "backoff_base": backoff_base,
                "backoff_cap": backoff_cap,
                "user_agent": user_agent,
            }
            if portable
            else None
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": user_agent,
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    # --- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        """Use the client as a context manager; the pool closes on exit."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the connection pool."""
        self.close()

    def portable_config(self) -> dict[str, Any] | None:
        """Keyword arguments that build the same client in another process, or None.

        None when the client has something a process cannot be given: a transport (tests mount
        the simulator in-process) or its own sleep or random function. Holds the API key: pass
        it through a pipe, never on a command line.
        """
        return dict(self._portable) if self._portable is not None else None

    def __repr__(self) -> str:
        """The client and the host it talks to (never the key)."""
        return f"<{type(self).__name__} {self.base_url}>"

    # --- the chokepoint ---------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a uniform wait in [0, min(cap, base * 2**(attempt-1))]."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2.0 ** (attempt - 1)))
        return self._rng() * ceiling

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        page_token: str | None = None,
        idempotent: bool = True,
        not_found_ok: bool = False,
        params: Any = None,
    ) -> Any:
        """Send one request, retrying transient failures; return the decoded JSON (None if empty).

        `idempotent=False` (creates, tests that make Leap call us) retries only failures that
        prove Leap did not act: a refused connection, 408, 425, 429 or 503. `page_token` marks a
        request for a page after the first, whose 400 means the token expired
        (LeapPageTokenExpired).
        `not_found_ok` returns None on 404 instead of raising LeapNotFound.
        """
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = self._http.request(method, path, json=json_body, params=params)
            except httpx.TransportError as exc:
                transient = self._no_response(exc, method, path, attempt, started, idempotent)
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                self.stats.record_request(response.status_code)
                self._log(method, path, response.status_code, elapsed_ms, attempt)
                answer = self._answer(
                    response,
                    method,
                    path,
                    attempt,
                    idempotent=idempotent,
                    not_found_ok=not_found_ok,
                    page_token=page_token,
                )
                if not isinstance(answer, _Transient):
                    return answer
                transient = answer
            waited += self._wait_to_retry(transient, method, path, attempt, waited)

    def _no_response(
        self,
        exc: httpx.TransportError,
        method: str,
        path: str,
        attempt: int,
        started: float,
        idempotent: bool,
    ) -> _Transient:
        """A request that got no response (timeout, connection error): counted and logged."""
        elapsed_ms = (time.monotonic() - started) * 1000
        self.stats.record_request(None)
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection error"
        failure = LeapUnavailable(
            f"{kind}: {type(exc).__name__}: {exc}".rstrip(": "),
            method=method,
            path=path,
            attempts=attempt,
        )
        failure.__cause__ = exc
        self._log(method, path, None, elapsed_ms, attempt, error=str(failure))
        # A refused connection or connect timeout never reached Leap: always safe to retry.
        retryable = idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        return _Transient(failure, retryable)

    def _answer(
        self,
        response: httpx.Response,
        method: str,
        path: str,
        attempt: int,
        *,
        idempotent: bool,
        not_found_ok: bool,
        page_token: str | None,
    ) -> Any:
        """A response's decoded JSON (None if empty), or the `_Transient` failure it is; a
        permanent refusal is raised (see `_send`)."""
        status = response.status_code
        body = response.content
        if 200 <= status < 300:
            if status == 204 or not body.strip():
                return None
            try:
                return json.loads(body)
            except ValueError as exc:
                # A torn page: the connection broke mid-body or a proxy mangled it.
                failure = LeapUnavailable(
                    f"invalid JSON in a {status} response ({len(body)} bytes): {exc}",
                    status=status,
                    body=response.text,
                    method=method,
                    path=path,
                    attempts=attempt,
                )
                return _Transient(failure, idempotent)
        if status in TRANSIENT_STATUSES or status >= 500:
            message, code = parse_error_body(response.text, status)
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            failure = LeapUnavailable(
                message,
                status=status,
                code=code,
                body=response.text,
                method=method,
                path=path,
                retry_after=retry_after,
                attempts=attempt,
            )
            # 408, 425, 429 and 503 mean the request was not processed.
            retryable = idempotent or status in (408, 425, 429, 503)
            return _Transient(failure, retryable, retry_after)
        if status == 404 and not_found_ok:
            return None
        error = self._permanent(response, method, path, page_token)
        self.stats.record_error(error)
        logger.warning(
            "leap %s %s rejected: %s",
            method,
            path,
            error,
            extra={"leap_method": method, "leap_path": path, "leap_status": status},
        )
        raise error

    def _wait_to_retry(
        self, transient: _Transient, method: str, path: str, attempt: int, waited: float
    ) -> float:
        """Sleep before retrying a transient failure and return how long; raise it instead when
        it may not be retried or the bounds (`max_retries`, `max_total_wait`) are reached."""
        failure = transient.failure
        self.stats.record_error(failure)
        if not transient.retryable or attempt > self.max_retries:
            failure.attempts = attempt
            self._log_give_up(method, path, failure)
            raise failure
        delay = (
            transient.retry_after if transient.retry_after is not None else self._backoff(attempt)
        )
        if waited + delay > self.max_total_wait:
            failure.attempts = attempt
            self._log_give_up(method, path, failure)
            raise failure
        self.stats.record_retry()
        logger.warning(
            "leap %s %s transient failure (%s), retry %d/%d in %.2fs",
            method,
            path,
            failure,
            attempt,
            self.max_retries,
            delay,
            extra={
                "leap_method": method,
                "leap_path": path,
                "leap_status": failure.status,
                "leap_attempt": attempt,
                "leap_delay_s": delay,
            },
        )
        self._sleep(delay)
        return delay

    def _permanent(
        self, response: httpx.Response, method: str, path: str, page_token: str | None
    ) -> LeapRejected:
        """The LeapRejected subclass for a non-transient error response."""
        status = response.status_code
        message, code = parse_error_body(response.text, status)
        kwargs: dict[str, Any] = {
            "status": status,
            "code": code,
            "body": response.text,
            "method": method,
            "path": path,
        }
        if status == 404:
            return LeapNotFound(message, **kwargs)
        details = error_details(response.text)
        if details:
            kwargs["details"] = details
        if status == 400 and page_token:
            return LeapPageTokenExpired(
                f"page token refused (expired or unknown): {message}", **kwargs
            )
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            return LeapRejected(f"unexpected redirect to {location or '?'}", **kwargs)
        return LeapRejected(message, **kwargs)

    def _log(
        self,
        method: str,
        path: str,
        status: int | None,
        elapsed_ms: float,
        attempt: int,
        error: str | None = None,
    ) -> None:
        """Log one HTTP attempt with method, path, status, duration and attempt number."""
        logger.info(
            "leap %s %s -> %s in %.0f ms (attempt %d)%s",
            method,
            path,
            status if status is not None else "no response",
            elapsed_ms,
            attempt,
            f": {error}" if error else "",
            extra={
                "leap_method": method,
                "leap_path": path,
                "leap_status": status,
                "leap_duration_ms": round(elapsed_ms, 1),
                "leap_attempt": attempt,
            },
        )

    def _log_give_up(self, method: str, path: str, failure: LeapUnavailable) -> None:
        """Log a transient failure the client stops retrying."""
        logger.error(
            "leap %s %s failed after %d attempt(s): %s",
            method,
            path,
            failure.attempts,
            failure,
            extra={"leap_method": method, "leap_path": path, "leap_status": failure.status},
        )

    # --- parsing helpers --------------------------------------------------------------------------

    def _parse_one(self, model: type[T], data: Any, method: str, path: str) -> T:
        """Validate a single object; LeapBadPayload (counted in stats) when it does not fit."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            error = bad_payload(model, data, exc)
            error.method, error.path = method, path
            self.stats.record_error(error)
            raise error from exc

    def _envelope(self, model: type[E], data: Any, method: str, path: str) -> E:
        """Validate a page/list envelope; a malformed envelope fails the whole page."""
        try:
            return model.model_validate(data if data is not None else {})
        except ValidationError as exc:
            error = bad_payload(model, data, exc)
            error.method, error.path = method, path
            self.stats.record_error(error)
            raise error from exc

    def _page(
        self,
        model: type[T],
        items: list[Any],
        *,
        number: int,
        next_page_token: str | None,
        path: str,
    ) -> Page[T]:
        """A Page of the objects that validate, with a LeapBadPayload for each that does not."""
        page: Page[T] = Page(number=number, next_page_token=next_page_token)
        for raw in items:
            try:
                page.append(model.model_validate(raw))
            except ValidationError as exc:
                error = bad_payload(model, raw, exc)
                error.method, error.path = "POST", path
                self.stats.record_error(error)
                logger.warning(
                    "leap POST %s: a %s does not validate (kept in page.failures): %s",
                    path,
                    model.__name__,
                    error,
                    extra={"leap_path": path, "leap_object_id": error.object_id},
                )
                page.failures.append(error)
        return page

    def _check_progress(self, path: str, token: str | None, next_token: str) -> None:
        """Stop a search whose next token is the one just used: it would never end."""
        if next_token == token:
            error = LeapBadPayload(
                f"Leap answered page token {token!r} with the same token: the search cannot "
                "make progress",
                raw={"next_page_token": next_token},
                model="page",
                method="POST",
                path=path,
            )
            self.stats.record_error(error)
            raise error

    @staticmethod
    def _flatten(pages: Iterator[Page[T]], on_bad: OnBad | None) -> Iterator[T]:
        """The objects of every page; failures go to `on_bad`, or are raised without it."""
        for page in pages:
            yield from page
            for failure in page.failures:
                if on_bad is None:
                    raise failure
                on_bad(failure)
