"""Dispatch v2: the meter and group dispatch searches, the dispatch webhooks and their tests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack
from uuid import UUID

from pydantic import ValidationError

from leap.client.core import ClientCore, Level, T, _header_list
from leap.client.pages import OnBad, Page
from leap.errors import LeapNotFound
from leap.schemas import (
    DispatchSearchPage,
    DispatchWebhookConfig,
    GroupDispatch,
    GroupIntegrationTestRequest,
    IntegrationTestResult,
    MeterDispatch,
    MeterIntegrationTestRequest,
)

MAX_DISPATCH_WINDOW = timedelta(days=31)  # dispatch search: a longer window is a 400


class MeterDispatchFilters(TypedDict, total=False):
    """The filters of the meter dispatch search (see `iter_meter_dispatch_pages`)."""

    meter_ids: Iterable[UUID | str] | None
    meter_event_ids: Iterable[UUID | str] | None
    exclude_real_time_events: bool
    exclude_voluntary_events: bool


class GroupDispatchFilters(TypedDict, total=False):
    """The filters of the group dispatch search (see `iter_group_dispatch_pages`)."""

    market_group_ids: Iterable[UUID | str] | None
    market_group_event_ids: Iterable[UUID | str] | None
    exclude_real_time_events: bool
    exclude_voluntary_events: bool


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


class DispatchAPI(ClientCore):
    """Dispatch v2."""

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
        on_bad: OnBad | None = None,
        **filters: Unpack[MeterDispatchFilters],
    ) -> Iterator[MeterDispatch]:
        """Every meter dispatch in [start, end); invalid ones go to `on_bad`, or raise.

        `filters`: those of `iter_meter_dispatch_pages`, with its defaults.
        """
        return self._flatten(self.iter_meter_dispatch_pages(start, end, **filters), on_bad)

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
        on_bad: OnBad | None = None,
        **filters: Unpack[GroupDispatchFilters],
    ) -> Iterator[GroupDispatch]:
        """Every group dispatch in [start, end); invalid ones go to `on_bad`, or raise.

        `filters`: those of `iter_group_dispatch_pages`, with its defaults.
        """
        return self._flatten(self.iter_group_dispatch_pages(start, end, **filters), on_bad)

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
