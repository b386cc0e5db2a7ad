"""LeapClient: the only code that speaks HTTP to Leap.

Every request goes through `LeapClient._send`, which adds auth and User-Agent, logs the call,
counts it in `stats`, classifies failures once (leap.errors) and retries transient ones with
exponential backoff and full jitter, bounded by `max_retries` and `max_total_wait`.

Paths are full service paths, each service versioned on its own: /v2/meters..., /v2/dispatch/...,
/v1.1/webhooks.
No Meters v1 call exists here: v1 is past its end of life.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlencode
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from leap.create_meters import MAX_JOB_ASSETS
from leap.errors import (
    LeapBadPayload,
    LeapError,
    LeapNotFound,
    LeapPageTokenExpired,
    LeapRejected,
    LeapUnavailable,
    error_details,
    parse_error_body,
)
from leap.schemas import (
    CreateMeterJobResponse,
    CustomerRevenue,
    DispatchSearchPage,
    DispatchWebhookConfig,
    FilterOptions,
    GroupDispatch,
    GroupIntegrationTestRequest,
    IntegrationTestResult,
    LoadTypeRevenue,
    MarketGroupRevenue,
    MeterDetail,
    MeterDetailPage,
    MeterDispatch,
    MeterEnrollment,
    MeterEnrollmentPage,
    MeterFilter,
    MeterIntegrationTestRequest,
    MeterJob,
    MeterJobDetail,
    MeterJobPage,
    MeterRevenue,
    PeriodicReport,
    ProvisionalAsset,
    ProvisionalAssetPage,
    RawModel,
    ReportVersion,
    RevenueSearchPage,
    UnresponsiveMeter,
    UnresponsivePage,
    UtilityRevenue,
    Webhook,
    WebhookIdResponse,
    WebhookList,
    WebhookTestResult,
    YearlyOverview,
    bad_payload,
)

logger = logging.getLogger("leap.client")

T = TypeVar("T", bound=RawModel)
V = TypeVar("V")
# What a Page holds: validated objects, or what a caller made of them (meters.search prepares them).
Item = TypeVar("Item")
E = TypeVar("E", bound=BaseModel)  # an envelope: a page or list wrapper, or a small response
Level = Literal["meter", "group"]

MAX_PAGE_SIZE = 500  # meters and enrollments search: page_size is 1-500
MAX_DISPATCH_WINDOW = timedelta(days=31)  # dispatch search: a longer window is a 400
MAX_REVENUE_PAGE_SIZE = 1000  # revenue searches and the unresponsive diagnosis (settlement.yml)
MAX_REVENUE_MONTHS = 3  # a revenue aggregation search spans at most 3 months (settlement.yml)
# The revenue aggregations: path segment -> (the list's key in a page, the row model).
REVENUE_AGGREGATIONS: dict[str, tuple[str, type[RawModel]]] = {
    "meter": ("meters", MeterRevenue),
    "customer": ("customers", CustomerRevenue),
    "market-group": ("market_groups", MarketGroupRevenue),
    "load-type": ("load_types", LoadTypeRevenue),
    "utility": ("utilities", UtilityRevenue),
}
HISTORICAL_RESPONSIVENESS = ("NEVER_RESPONDS", "RARELY_RESPONDS", "NORMALLY_RESPONDS", "NEW_METER")
# Statuses that mean "try again later"; every other 4xx is a permanent refusal.
TRANSIENT_STATUSES = frozenset({408, 425, 429})


# The User-Agent of a client made without one. get_client passes settings.LEAP_USER_AGENT, which
# the project's settings build from its name and version (leap/ imports nothing of the project).
USER_AGENT = "leapportal/unknown"


def _now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


@dataclass
class ClientStats:
    """Counters the sync-health page shows: requests, retries, failures and the last error."""

    requests: int = 0
    retries: int = 0
    failures: int = 0
    last_status: int | None = None
    last_request_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_request(self, status: int | None) -> None:
        """Count one HTTP attempt (status None when no response arrived)."""
        with self._lock:
            self.requests += 1
            self.last_status = status
            self.last_request_at = _now()

    def record_retry(self) -> None:
        """Count one retry of a transient failure."""
        with self._lock:
            self.retries += 1

    def record_error(self, error: LeapError | str) -> None:
        """Remember the latest failure (transient or permanent) with its time."""
        with self._lock:
            self.failures += 1
            self.last_error = str(error)
            self.last_error_at = _now()

    def counters(self) -> dict[str, Any]:
        """What `merge` adds elsewhere: the counts and the latest status and error."""
        return self.as_dict()

    def merge(self, other: dict[str, Any]) -> None:
        """Add another client's `counters()` (a fetch process's) to these ones."""
        with self._lock:
            self.requests += other.get("requests", 0)
            self.retries += other.get("retries", 0)
            self.failures += other.get("failures", 0)
            if other.get("last_request_at") and (
                self.last_request_at is None or other["last_request_at"] >= self.last_request_at
            ):
                self.last_request_at = other["last_request_at"]
                self.last_status = other.get("last_status")
            if other.get("last_error_at") and (
                self.last_error_at is None or other["last_error_at"] >= self.last_error_at
            ):
                self.last_error_at = other["last_error_at"]
                self.last_error = other.get("last_error")

    def as_dict(self) -> dict[str, Any]:
        """A plain snapshot for templates and JSON."""
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "failures": self.failures,
                "last_status": self.last_status,
                "last_request_at": self.last_request_at,
                "last_error": self.last_error,
                "last_error_at": self.last_error_at,
            }


class Page(list[Item], Generic[Item]):
    """One page of a search: the objects that validated, plus the ones that did not.

    `failures` holds a LeapBadPayload (with `.raw` and `.errors`) for every object of the page that
    failed validation; the good objects of the page are still returned. `number` counts pages
    within one search (from 1); `next_page_token` is Leap's token for the following page.
    """

    def __init__(
        self,
        items: Iterable[Item] = (),
        *,
        failures: list[LeapBadPayload] | None = None,
        number: int = 1,
        next_page_token: str | None = None,
    ) -> None:
        super().__init__(items)
        self.failures: list[LeapBadPayload] = failures or []
        self.number = number
        self.next_page_token = next_page_token


class RawPage(Generic[T]):
    """A page fetched but not validated yet (`lazy=True` searches): `validate()` gives the Page.

    Lets a caller validate one page while the next is being fetched: the search asks Leap for
    the next page as soon as it is iterated again, without waiting for this page's objects to be
    validated. The objects are the dicts Leap sent.
    """

    def __init__(self, client: LeapClient, model: type[T], items: list[Any], **page: Any) -> None:
        self._client = client
        self._model = model
        self._items = items
        self._page = page

    def __len__(self) -> int:
        return len(self._items)

    def validate(self) -> Page[T]:
        """Validate every object (each invalid one becomes a LeapBadPayload in `failures`)."""
        return self._client._page(self._model, self._items, **self._page)


OnBad = Callable[[LeapBadPayload], None]


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


def _chunks(values: list[V], size: int) -> list[list[V]]:
    """`values` cut into lists of at most `size` (one empty list for no values)."""
    return [values[i : i + size] for i in range(0, len(values), size)] or [[]]


def _require_aware(name: str, value: datetime) -> datetime:
    """`value` in UTC; a naive datetime is a programming error here (DTZ)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as Leap writes datetimes."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_level(level: str) -> Level:
    """The dispatch level, or ValueError for anything but meter/group."""
    if level not in ("meter", "group"):
        raise ValueError(f"level must be 'meter' or 'group', got {level!r}")
    return level  # type: ignore[return-value]


def _header_list(headers: dict[str, str] | None) -> list[dict[str, str]]:
    """Leap's `[{name, value}]` header list from a mapping."""
    return [{"name": name, "value": value} for name, value in (headers or {}).items()]


class LeapClient:
    """A client for Leap's partner API (meters v2, enrollments v2, dispatch v2, webhooks v1.1)."""

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
        # What rebuilds this client in another process (meters.search.FetchProcess): only a
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

    def __enter__(self) -> LeapClient:
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
        return f"<LeapClient {self.base_url}>"

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
            retry_after: float | None = None
            try:
                response = self._http.request(method, path, json=json_body, params=params)
            except httpx.TransportError as exc:
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
                # A refused connection or connect timeout never reached Leap: always safe to retry.
                retryable = idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                self._log(method, path, None, elapsed_ms, attempt, error=str(failure))
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                status = response.status_code
                self.stats.record_request(status)
                self._log(method, path, status, elapsed_ms, attempt)
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
                        retryable = idempotent
                elif status in TRANSIENT_STATUSES or status >= 500:
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
                else:
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

            # Transient failure: retry within the bounds, else give up with the last cause.
            self.stats.record_error(failure)
            if not retryable or attempt > self.max_retries:
                failure.attempts = attempt
                self._log_give_up(method, path, failure)
                raise failure
            delay = retry_after if retry_after is not None else self._backoff(attempt)
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
            waited += delay

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

    # --- meters v2 and enrollments v2 -------------------------------------------------------------

    def get_meter(self, meter_id: UUID | str) -> MeterDetail:
        """`GET /v2/meters/{meter_id}`; LeapNotFound when Leap has no such meter."""
        path = f"/v2/meters/{UUID(str(meter_id))}"
        return self._parse_one(MeterDetail, self._send("GET", path), "GET", path)

    def get_enrollment(self, meter_id: UUID | str) -> MeterEnrollment:
        """`GET /v2/meters/{meter_id}/enrollments`; LeapNotFound when Leap has no such meter."""
        path = f"/v2/meters/{UUID(str(meter_id))}/enrollments"
        return self._parse_one(MeterEnrollment, self._send("GET", path), "GET", path)

    def iter_meter_pages(
        self,
        filters: MeterFilter | None = None,
        page_size: int = MAX_PAGE_SIZE,
        *,
        lazy: bool = False,
    ) -> Iterator[Page[MeterDetail]]:
        """Stream `POST /v2/meters/search` page by page (constant memory).

        With `lazy`, pages come as RawPage, validated by the caller (`validate()`).
        """
        return self._iter_search(
            "/v2/meters/search", MeterDetailPage, MeterDetail, filters, page_size, lazy=lazy
        )

    def iter_meters(
        self,
        filters: MeterFilter | None = None,
        page_size: int = MAX_PAGE_SIZE,
        *,
        on_bad: OnBad | None = None,
    ) -> Iterator[MeterDetail]:
        """Every meter of the search; invalid ones go to `on_bad`, or raise when it is None."""
        return self._flatten(self.iter_meter_pages(filters, page_size), on_bad)

    def iter_enrollment_pages(
        self,
        filters: MeterFilter | None = None,
        page_size: int = MAX_PAGE_SIZE,
        *,
        lazy: bool = False,
    ) -> Iterator[Page[MeterEnrollment]]:
        """Stream `POST /v2/meters/enrollments/search` page by page (constant memory).

        With `lazy`, pages come as RawPage, validated by the caller (`validate()`).
        """
        return self._iter_search(
            "/v2/meters/enrollments/search",
            MeterEnrollmentPage,
            MeterEnrollment,
            filters,
            page_size,
            lazy=lazy,
        )

    def iter_enrollments(
        self,
        filters: MeterFilter | None = None,
        page_size: int = MAX_PAGE_SIZE,
        *,
        on_bad: OnBad | None = None,
    ) -> Iterator[MeterEnrollment]:
        """Every enrollment of the search; invalid ones go to `on_bad`, or raise when it is None."""
        return self._flatten(self.iter_enrollment_pages(filters, page_size), on_bad)

    @staticmethod
    def split_filter(filters: MeterFilter | None) -> list[dict[str, Any]]:
        """Search bodies for a filter, one per chunk of id lists longer than Leap's limits.

        Leap ANDs fields and ORs within a list, so the union of the searches over every
        combination of chunks equals the one search Leap would refuse.
        """
        body = filters.to_body() if filters is not None else {}
        chunked: list[list[tuple[str, list[Any]]]] = []
        for name in MeterFilter.SPLITTABLE:
            values = body.get(name)
            if values:
                limit = MeterFilter.LIST_LIMITS[name]
                chunked.append([(name, chunk) for chunk in _chunks(values, limit)])
        if not chunked:
            return [body]
        bodies = []
        for combination in itertools.product(*chunked):
            bodies.append({**body, **dict(combination)})
        return bodies

    def _iter_search(
        self,
        path: str,
        envelope: type[MeterDetailPage],
        model: type[T],
        filters: MeterFilter | None,
        page_size: int,
        *,
        lazy: bool = False,
    ) -> Iterator[Page[T]]:
        """Page through a meters/enrollments search, once per split of the filter."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        for body in self.split_filter(filters):
            token: str | None = None
            number = 0
            while True:
                number += 1
                request = {**body, "page_size": page_size}
                if token:
                    request["page_token"] = token
                data = self._send("POST", path, json_body=request, page_token=token)
                parsed = self._envelope(envelope, data, "POST", path)
                next_token = parsed.next_page_token or None
                if lazy:
                    yield RawPage(  # type: ignore[misc]
                        self,
                        model,
                        parsed.meters,
                        number=number,
                        next_page_token=next_token,
                        path=path,
                    )
                else:
                    yield self._page(
                        model, parsed.meters, number=number, next_page_token=next_token, path=path
                    )
                # Let the page (and its raw dicts) go before the next request: constant memory.
                del parsed, data
                if not next_token:
                    break
                self._check_progress(path, token, next_token)
                token = next_token

    # --- dispatch v2 ------------------------------------------------------------------------------

    @staticmethod
    def dispatch_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """[start, end) cut into consecutive windows of at most 31 days (Leap's guard)."""
        start = _require_aware("start", start)
        end = _require_aware("end", end)
        if end <= start:
            raise ValueError(f"end ({_iso(end)}) must be after start ({_iso(start)})")
        windows = []
        cursor = start
        while cursor < end:
            upper = min(end, cursor + MAX_DISPATCH_WINDOW)
            windows.append((cursor, upper))
            cursor = upper
        return windows

    def _iter_dispatch_pages(
        self,
        path: str,
        model: type[T],
        start: datetime,
        end: datetime,
        filters: dict[str, Any],
    ) -> Iterator[Page[T]]:
        """Page through a dispatch search, window by window of at most 31 days."""
        for window_start, window_end in self.dispatch_windows(start, end):
            token: str | None = None
            number = 0
            while True:
                number += 1
                body = {"start_date": _iso(window_start), "end_date": _iso(window_end), **filters}
                if token:
                    body["page_token"] = token
                data = self._send("POST", path, json_body=body, page_token=token)
                parsed = self._envelope(DispatchSearchPage, data, "POST", path)
                next_token = parsed.next_page_token or None
                yield self._page(
                    model, parsed.results, number=number, next_page_token=next_token, path=path
                )
                del parsed, data
                if not next_token:
                    break
                self._check_progress(path, token, next_token)
                token = next_token

    @staticmethod
    def _dispatch_filters(
        ids: dict[str, Iterable[UUID | str] | None],
        exclude_real_time_events: bool,
        exclude_voluntary_events: bool,
    ) -> dict[str, Any]:
        """The dispatch search flags and id lists (unique, checked UUIDs)."""
        filters: dict[str, Any] = {
            "exclude_real_time_events": exclude_real_time_events,
            "exclude_voluntary_events": exclude_voluntary_events,
        }
        for name, values in ids.items():
            if values is not None:
                unique = list(dict.fromkeys(str(UUID(str(v))) for v in values))
                if not unique:
                    raise ValueError(f"{name} must not be empty when given (Leap needs >= 1)")
                filters[name] = unique
        return filters

    def iter_meter_dispatch_pages(
        self,
        start: datetime,
        end: datetime,
        *,
        meter_ids: Iterable[UUID | str] | None = None,
        meter_event_ids: Iterable[UUID | str] | None = None,
        exclude_real_time_events: bool = True,
        exclude_voluntary_events: bool = False,
    ) -> Iterator[Page[MeterDispatch]]:
        """Stream `POST /v2/dispatch/meter/search` over [start, end), split into 31-day windows."""
        filters = self._dispatch_filters(
            {"meter_ids": meter_ids, "meter_event_ids": meter_event_ids},
            exclude_real_time_events,
            exclude_voluntary_events,
        )
        return self._iter_dispatch_pages(
            "/v2/dispatch/meter/search", MeterDispatch, start, end, filters
        )

    def iter_meter_dispatches(
        self,
        start: datetime,
        end: datetime,
        *,
        meter_ids: Iterable[UUID | str] | None = None,
        meter_event_ids: Iterable[UUID | str] | None = None,
        exclude_real_time_events: bool = True,
        exclude_voluntary_events: bool = False,
        on_bad: OnBad | None = None,
    ) -> Iterator[MeterDispatch]:
        """Every meter dispatch in [start, end); invalid ones go to `on_bad`, or raise."""
        pages = self.iter_meter_dispatch_pages(
            start,
            end,
            meter_ids=meter_ids,
            meter_event_ids=meter_event_ids,
            exclude_real_time_events=exclude_real_time_events,
            exclude_voluntary_events=exclude_voluntary_events,
        )
        return self._flatten(pages, on_bad)

    def iter_group_dispatch_pages(
        self,
        start: datetime,
        end: datetime,
        *,
        market_group_ids: Iterable[UUID | str] | None = None,
        market_group_event_ids: Iterable[UUID | str] | None = None,
        exclude_real_time_events: bool = True,
        exclude_voluntary_events: bool = False,
    ) -> Iterator[Page[GroupDispatch]]:
        """Stream `POST /v2/dispatch/group/search` over [start, end), split into 31-day windows."""
        filters = self._dispatch_filters(
            {
                "market_group_ids": market_group_ids,
                "market_group_event_ids": market_group_event_ids,
            },
            exclude_real_time_events,
            exclude_voluntary_events,
        )
        return self._iter_dispatch_pages(
            "/v2/dispatch/group/search", GroupDispatch, start, end, filters
        )

    def iter_group_dispatches(
        self,
        start: datetime,
        end: datetime,
        *,
        market_group_ids: Iterable[UUID | str] | None = None,
        market_group_event_ids: Iterable[UUID | str] | None = None,
        exclude_real_time_events: bool = True,
        exclude_voluntary_events: bool = False,
        on_bad: OnBad | None = None,
    ) -> Iterator[GroupDispatch]:
        """Every group dispatch in [start, end); invalid ones go to `on_bad`, or raise."""
        pages = self.iter_group_dispatch_pages(
            start,
            end,
            market_group_ids=market_group_ids,
            market_group_event_ids=market_group_event_ids,
            exclude_real_time_events=exclude_real_time_events,
            exclude_voluntary_events=exclude_voluntary_events,
        )
        return self._flatten(pages, on_bad)

    def get_dispatch_webhook(self, level: Level) -> DispatchWebhookConfig | None:
        """The dispatch webhook registered for `level` ("meter" or "group"), None if none is."""
        path = f"/v2/dispatch/{_check_level(level)}/webhook"
        data = self._send("GET", path, not_found_ok=True)
        if data is None:
            return None
        return self._parse_one(DispatchWebhookConfig, data, "GET", path)

    def put_dispatch_webhook(
        self, level: Level, url: str, headers: dict[str, str] | None = None
    ) -> DispatchWebhookConfig:
        """Register (create or replace) the dispatch webhook of `level` with its headers."""
        path = f"/v2/dispatch/{_check_level(level)}/webhook"
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"the webhook url must be an http(s) URL, got {url!r}")
        body = {"url": url, "headers": _header_list(headers)}
        data = self._send("PUT", path, json_body=body)
        if data is None:  # Leap answers the object; an empty 200 still means it was stored
            data = body
        return self._parse_one(DispatchWebhookConfig, data, "PUT", path)

    def delete_dispatch_webhook(self, level: Level) -> bool:
        """Remove the dispatch webhook of `level`; False when none was registered."""
        path = f"/v2/dispatch/{_check_level(level)}/webhook"
        try:
            self._send("DELETE", path)
        except LeapNotFound:
            return False
        return True

    def dispatch_integration_test(
        self, level: Level, body: dict[str, Any]
    ) -> IntegrationTestResult:
        """Ask Leap to POST `body` (a whole integration-test notification) to our webhook."""
        level = _check_level(level)
        request_model = (
            MeterIntegrationTestRequest if level == "meter" else GroupIntegrationTestRequest
        )
        try:
            request_model.model_validate(body)
        except ValidationError as exc:
            raise ValueError(f"not a valid {level} integration test body: {exc}") from exc
        path = f"/v2/dispatch/{level}/webhook/integration_test"
        data = self._send("POST", path, json_body=body, idempotent=False)
        return self._parse_one(IntegrationTestResult, data, "POST", path)

    # --- webhook platform v1.1 --------------------------------------------------------------------

    def list_webhooks(self) -> list[Webhook]:
        """Every webhook platform subscription of the account (Leap does not page this list)."""
        path = "/v1.1/webhooks"
        envelope = self._envelope(WebhookList, self._send("GET", path), "GET", path)
        return [self._parse_one(Webhook, raw, "GET", path) for raw in envelope.webhooks]

    @staticmethod
    def _webhook_body(
        receiver_url: str, event_types: Iterable[str], headers: dict[str, str] | None
    ) -> dict[str, Any]:
        """The body of a webhook create/update, checked before it goes to Leap."""
        if not receiver_url.startswith(("https://", "http://")):
            raise ValueError(f"receiver_url must be an http(s) URL, got {receiver_url!r}")
        types = list(dict.fromkeys(event_types))
        if not types:
            raise ValueError("subscribe to at least one event type")
        return {
            "receiver_url": receiver_url,
            "event_types": types,
            "headers": _header_list(headers),
        }

    def create_webhook(
        self,
        receiver_url: str,
        event_types: Iterable[str],
        headers: dict[str, str] | None = None,
    ) -> UUID:
        """Subscribe `receiver_url` to `event_types`; returns the new webhook id."""
        path = "/v1.1/webhooks"
        body = self._webhook_body(receiver_url, event_types, headers)
        data = self._send("POST", path, json_body=body, idempotent=False)
        return self._envelope(WebhookIdResponse, data, "POST", path).webhook_id

    def update_webhook(
        self,
        webhook_id: UUID | str,
        receiver_url: str,
        event_types: Iterable[str],
        headers: dict[str, str] | None = None,
    ) -> UUID:
        """Replace every setting of a subscription (Leap's PUT is not a patch)."""
        path = f"/v1.1/webhooks/{UUID(str(webhook_id))}"
        body = self._webhook_body(receiver_url, event_types, headers)
        data = self._send("PUT", path, json_body=body)
        if data is None:
            return UUID(str(webhook_id))
        return self._envelope(WebhookIdResponse, data, "PUT", path).webhook_id

    def delete_webhook(self, webhook_id: UUID | str) -> None:
        """Delete a subscription; LeapNotFound if Leap does not know it."""
        self._send("DELETE", f"/v1.1/webhooks/{UUID(str(webhook_id))}")

    def test_webhook(self, webhook_id: UUID | str, payload: dict[str, Any]) -> WebhookTestResult:
        """Ask Leap to send `payload` (an event payload) to the subscription's receiver."""
        if not isinstance(payload, dict) or not payload.get("webhook_event_type"):
            raise ValueError("a test payload needs a webhook_event_type")
        path = f"/v1.1/webhooks/{UUID(str(webhook_id))}/test"
        data = self._send("POST", path, json_body=payload, idempotent=False)
        return self._parse_one(WebhookTestResult, data, "POST", path)

    # --- revenue & analytics v1.1 (settlement.yml) ------------------------------------------------

    @staticmethod
    def month_windows(period_start: str, period_end: str) -> list[tuple[str, str]]:
        """[start, end] (inclusive `YYYY-MM`) cut into windows of at most 3 months (Leap's limit)."""
        first, last = _month_index(period_start), _month_index(period_end)
        if last < first:
            raise ValueError(f"period_end ({period_end}) is before period_start ({period_start})")
        return [
            (_month_text(m), _month_text(min(last, m + MAX_REVENUE_MONTHS - 1)))
            for m in range(first, last + 1, MAX_REVENUE_MONTHS)
        ]

    def iter_revenue_pages(
        self,
        aggregation: str,
        period_start: str,
        period_end: str,
        *,
        version: str | None = None,
        programs: Iterable[str] | None = None,
        filters: Iterable[str] | None = None,
        page_size: int = MAX_REVENUE_PAGE_SIZE,
        lazy: bool = False,
    ) -> Iterator[Page[RawModel]]:
        """Stream `POST /v1.1/revenue/periodic/aggregation/{aggregation}/search` page by page.

        `aggregation` is meter, customer, market-group, load-type or utility. A period longer
        than 3 months is searched in windows of 3. With `lazy`, pages come as RawPage.
        """
        if aggregation not in REVENUE_AGGREGATIONS:
            raise ValueError(f"unknown revenue aggregation {aggregation!r}")
        if not 1 <= page_size <= MAX_REVENUE_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_REVENUE_PAGE_SIZE}")
        if version is not None and not (len(version) >= 2 and version.startswith("V")):
            raise ValueError(f"a report version looks like V1, got {version!r}")
        key, model = REVENUE_AGGREGATIONS[aggregation]
        path = f"/v1.1/revenue/periodic/aggregation/{aggregation}/search"
        for start, end in self.month_windows(period_start, period_end):
            body: dict[str, Any] = {"period_start": start, "period_end": end}
            if version:
                body["version"] = version
            if programs:
                body["programs"] = list(dict.fromkeys(programs))
            if filters:
                body["filters"] = list(dict.fromkeys(filters))
            yield from self._iter_token_pages(path, body, key, model, page_size, lazy=lazy)

    def iter_revenue(
        self, aggregation: str, period_start: str, period_end: str, **kw: Any
    ) -> Iterator[RawModel]:
        """Every row of a revenue aggregation search; invalid rows go to `on_bad`, or raise."""
        on_bad = kw.pop("on_bad", None)
        pages = self.iter_revenue_pages(aggregation, period_start, period_end, **kw)
        return self._flatten(pages, on_bad)

    def _iter_token_pages(
        self,
        path: str,
        body: dict[str, Any],
        key: str,
        model: type[T],
        page_size: int,
        *,
        lazy: bool = False,
        envelope: type[Any] = RevenueSearchPage,
        query: str = "",
    ) -> Iterator[Page[T]]:
        """Page through a settlement search whose token comes back as `page_token`."""
        token: str | None = None
        number = 0
        while True:
            number += 1
            request = {**body, "page_size": page_size}
            if token:
                request["page_token"] = token
            data = self._send("POST", path + query, json_body=request, page_token=token)
            parsed = self._envelope(envelope, data, "POST", path)
            items = getattr(parsed, key) or []
            next_token = parsed.page_token or None
            if lazy:
                yield RawPage(  # type: ignore[misc]
                    self, model, items, number=number, next_page_token=next_token, path=path
                )
            else:
                yield self._page(model, items, number=number, next_page_token=next_token, path=path)
            del parsed, data, items
            if not next_token:
                break
            self._check_progress(path, token, next_token)
            token = next_token

    @staticmethod
    def _query(**params: Any) -> str:
        """`?a=1&b=x,y` for the parameters that are set (lists comma-separated, as Leap wants)."""
        pairs = []
        for name, value in params.items():
            if value is None:
                continue
            if isinstance(value, list | tuple):
                if not value:
                    continue
                value = ",".join(str(v) for v in value)
            pairs.append((name, str(value)))
        return "?" + urlencode(pairs) if pairs else ""

    def get_revenue_report(
        self,
        period_start: str,
        period_end: str,
        *,
        version: str | None = None,
        programs: Iterable[str] | None = None,
    ) -> PeriodicReport:
        """`GET /v1.1/revenue/periodic/reports`: the figures and statuses of a period's reports."""
        _month_index(period_start), _month_index(period_end)
        path = "/v1.1/revenue/periodic/reports"
        query = self._query(
            period_start=period_start,
            period_end=period_end,
            version=version,
            programs=list(programs) if programs else None,
        )
        return self._parse_one(PeriodicReport, self._send("GET", path + query), "GET", path)

    def list_report_versions(
        self, period_start: str, period_end: str, *, programs: Iterable[str] | None = None
    ) -> list[ReportVersion]:
        """`GET /v1.1/revenue/periodic/versions`: every version of the period's reports."""
        _month_index(period_start), _month_index(period_end)
        path = "/v1.1/revenue/periodic/versions"
        query = self._query(
            period_start=period_start,
            period_end=period_end,
            programs=list(programs) if programs else None,
        )
        data = self._send("GET", path + query)
        if data is None:
            return []
        if not isinstance(data, list):
            error = LeapBadPayload(
                "the report versions answer is not a list", raw=data, model="ReportVersion"
            )
            error.method, error.path = "GET", path
            self.stats.record_error(error)
            raise error
        return [self._parse_one(ReportVersion, raw, "GET", path) for raw in data]

    def get_yearly_overview(
        self,
        year: int,
        *,
        transmission_regions: Iterable[str] | None = None,
        programs: Iterable[str] | None = None,
        report_statuses: Iterable[str] | None = None,
    ) -> YearlyOverview:
        """`GET /v1.1/revenue/yearly/{year}`: the year's totals, sources, regions and reports."""
        if not 2000 <= int(year) <= 9999:
            raise ValueError(f"not a plausible year: {year!r}")
        path = f"/v1.1/revenue/yearly/{int(year)}"
        query = self._query(
            transmission_regions=list(transmission_regions) if transmission_regions else None,
            programs=list(programs) if programs else None,
            report_statuses=list(report_statuses) if report_statuses else None,
        )
        return self._parse_one(YearlyOverview, self._send("GET", path + query), "GET", path)

    def iter_unresponsive_pages(
        self,
        year_month: str,
        *,
        historical_responsiveness: Iterable[str] | None = None,
        programs: Iterable[str] | None = None,
        transmission_regions: Iterable[str] | None = None,
        page_size: int = MAX_REVENUE_PAGE_SIZE,
        include_summary: bool = False,
        lazy: bool = False,
    ) -> Iterator[Page[UnresponsiveMeter]]:
        """Stream `POST /v1.1/performance/diagnosis/monthly/unresponsive/meters` for one month."""
        _month_index(year_month)
        if not 1 <= page_size <= MAX_REVENUE_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_REVENUE_PAGE_SIZE}")
        body: dict[str, Any] = {"year_month": year_month}
        if historical_responsiveness:
            kinds = list(dict.fromkeys(historical_responsiveness))
            unknown = set(kinds) - set(HISTORICAL_RESPONSIVENESS)
            if unknown:
                raise ValueError(f"unknown historical responsiveness: {sorted(unknown)}")
            body["historical_responsiveness"] = kinds
        if programs:
            body["programs"] = list(dict.fromkeys(programs))
        if transmission_regions:
            body["transmission_regions"] = list(dict.fromkeys(transmission_regions))
        path = "/v1.1/performance/diagnosis/monthly/unresponsive/meters"
        query = "?include_summary=true" if include_summary else ""
        return self._iter_token_pages(
            path,
            body,
            "meters",
            UnresponsiveMeter,
            page_size,
            lazy=lazy,
            envelope=UnresponsivePage,
            query=query,
        )

    # --- create meters v1.1 -----------------------------------------------------------------------

    def create_meter_job(
        self,
        assets: list[dict[str, Any]],
        *,
        update_existing: bool = False,
        file_name: str | None = None,
    ) -> UUID:
        """`POST /v1.1/jobs/meters`: start a create-meters job; returns its job id.

        Not idempotent (Leap has no idempotency keys): only failures that prove Leap did not
        act are retried here. A caller that gets LeapUnavailable must find out whether the job
        exists (`find_meter_jobs(file_name=...)`) before sending it again. A 400 raises
        LeapRejected whose `details` lists `{message, json_index, problem_field}` per problem.
        """
        if not assets:
            raise ValueError("a create-meters job needs at least one asset")
        if len(assets) > MAX_JOB_ASSETS:
            raise ValueError(f"at most {MAX_JOB_ASSETS} assets per job, got {len(assets)}")
        params: dict[str, str] = {"update_existing": "true" if update_existing else "false"}
        if file_name is not None:
            if (
                not re.fullmatch(r"[a-zA-Z0-9._\s-]+\.[a-zA-Z0-9]+", file_name)
                or len(file_name) > 255
            ):
                raise ValueError(f"file_name {file_name!r} does not match Leap's file name rule")
            params["file_name"] = file_name
        path = "/v1.1/jobs/meters"
        data = self._send(
            "POST", path, json_body={"assets": assets}, params=params, idempotent=False
        )
        return self._envelope(CreateMeterJobResponse, data, "POST", path).job_id

    def get_meter_job(self, job_id: UUID | str) -> MeterJobDetail:
        """`GET /v1.1/jobs/meters/{job_id}`: the job's status and every asset's outcome."""
        path = f"/v1.1/jobs/meters/{UUID(str(job_id))}"
        return self._parse_one(MeterJobDetail, self._send("GET", path), "GET", path)

    @staticmethod
    def _filter_params(
        filters: dict[str, Iterable[str]] | None,
        search_query: str | None,
        search_fields: Iterable[str] | None,
        page_size: int,
    ) -> list[tuple[str, str]]:
        """Query parameters of Leap's listing endpoints: `filter=key:v1,v2` (AND across keys,
        IN within one), free-text search and paging."""
        params: list[tuple[str, str]] = []
        for key, values in (filters or {}).items():
            values = [str(v) for v in values]
            if values:
                params.append(("filter", f"{key}:{','.join(values)}"))
        if search_query:
            fields = list(search_fields or ())
            if not fields:
                raise ValueError("search_fields are required with search_query")
            params.append(("search_query", search_query))
            params.extend(("search_fields", f) for f in fields)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        params.append(("page_size", str(page_size)))
        return params

    def _iter_listing(
        self,
        path: str,
        envelope: type[Any],
        key: str,
        model: type[T],
        params: list[tuple[str, str]],
    ) -> Iterator[T]:
        """Every object of a GET listing paged with `page_token` query parameters."""
        token: str | None = None
        while True:
            query = params + ([("page_token", token)] if token else [])
            data = self._send("GET", path, params=query, page_token=token)
            parsed = self._envelope(envelope, data, "GET", path)
            for raw in getattr(parsed, key):
                yield self._parse_one(model, raw, "GET", path)
            next_token = parsed.next_page_token or None
            if not next_token:
                return
            self._check_progress(path, token, next_token)
            token = next_token

    def iter_meter_jobs(
        self,
        filters: dict[str, Iterable[str]] | None = None,
        *,
        search_query: str | None = None,
        search_fields: Iterable[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[MeterJob]:
        """`GET /v1.1/jobs/meters`: every job matching the filters (keys from
        `meter_job_filters()`: status, transmission_region, file_name)."""
        params = self._filter_params(filters, search_query, search_fields, page_size)
        return self._iter_listing("/v1.1/jobs/meters", MeterJobPage, "jobs", MeterJob, params)

    def find_meter_jobs(self, file_name: str) -> list[MeterJob]:
        """The jobs Leap holds under exactly this file name (how a lost job id is recovered)."""
        return [
            job
            for job in self.iter_meter_jobs({"file_name": [file_name]})
            if job.file_name == file_name
        ]

    def meter_job_filters(self) -> dict[str, list[str]]:
        """`GET /v1.1/jobs/meter-job-filters`: filter key -> the values it accepts."""
        path = "/v1.1/jobs/meter-job-filters"
        parsed = self._envelope(FilterOptions, self._send("GET", path), "GET", path)
        return {option.key: list(option.values) for option in parsed.filter_options}

    def iter_provisional_assets(
        self,
        filters: dict[str, Iterable[str]] | None = None,
        *,
        search_query: str | None = None,
        search_fields: Iterable[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[ProvisionalAsset]:
        """`GET /v1.1/provisional-assets`: the assets of every job (filters: status,
        transmission_region, partner_reference, job_id)."""
        params = self._filter_params(filters, search_query, search_fields, page_size)
        return self._iter_listing(
            "/v1.1/provisional-assets",
            ProvisionalAssetPage,
            "provisional_assets",
            ProvisionalAsset,
            params,
        )

    def create_meter(
        self, onboarding_token: str, asset: dict[str, Any], *, update_existing: bool = False
    ) -> ProvisionalAsset:
        """`POST /v1.1/meters`: create one meter synchronously with a Leap onboarding token.

        The token carries Leap's de-duplication key, so sending the same token again is safe;
        it is still retried only when Leap provably did not act. A 200 may describe a failure
        (`status` FAILED/DUPLICATE); a 400 raises LeapRejected with `details` = Leap's `errors`.
        """
        if not onboarding_token:
            raise ValueError("an onboarding token is required")
        path = "/v1.1/meters"
        data = self._send(
            "POST",
            path,
            json_body={"onboarding_token": onboarding_token, "provisional_asset": asset},
            params={"update_existing": "true" if update_existing else "false"},
            idempotent=False,
        )
        return self._parse_one(ProvisionalAsset, data, "POST", path)


def _month_index(value: str) -> int:
    """Months since year 0 of a `YYYY-MM` string; ValueError for anything else."""
    if not isinstance(value, str) or len(value) != 7 or value[4] != "-":
        raise ValueError(f"a month is YYYY-MM, got {value!r}")
    year, month = int(value[:4]), int(value[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"a month is YYYY-MM, got {value!r}")
    return year * 12 + month - 1


def _month_text(index: int) -> str:
    """`YYYY-MM` of a month index (see _month_index)."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
