"""Meters v2 and enrollments v2: one meter, and the two searches the meter sync reads."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, TypeVar
from uuid import UUID

from leap.client.core import MAX_PAGE_SIZE, ClientCore, T
from leap.client.pages import OnBad, Page, RawPage
from leap.schemas import (
    MeterDetail,
    MeterDetailPage,
    MeterEnrollment,
    MeterEnrollmentPage,
    MeterFilter,
)

V = TypeVar("V")


def _chunks(values: list[V], size: int) -> list[list[V]]:
    """`values` cut into lists of at most `size` (one empty list for no values)."""
    return [values[i : i + size] for i in range(0, len(values), size)] or [[]]


class MetersAPI(ClientCore):
    """Meters v2 and enrollments v2."""

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
