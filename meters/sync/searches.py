"""Leap's two meter searches, and how each stream's objects are prepared for the planner.

No threads here: meters/sync/pipeline.py runs these in the background.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from leap.client import LeapClient, Page
from leap.schemas import MeterFilter
from meters.sync.snapshot import Prepared, prepare_details, prepare_enrollment

# How each stream's objects are prepared for the planner.
PREPARE: dict[str, Callable[[Any], Prepared]] = {
    "details": prepare_details,
    "enrollment": prepare_enrollment,
}


def search_pages(
    client: LeapClient, stream: str, filters: MeterFilter | None, page_size: int, **kw: Any
) -> Iterator[Any]:
    """The client's search of one stream ("details" or "enrollment"): its pages, or with
    `lazy=True` its RawPages (validated by whoever reads them)."""
    if stream == "details":
        return client.iter_meter_pages(filters, page_size, **kw)
    if stream == "enrollment":
        return client.iter_enrollment_pages(filters, page_size, **kw)
    raise ValueError(f"unknown stream {stream!r}")


def prepared(page: Any, prepare: Callable[[Any], Any]) -> Page[Any]:
    """A page of validated objects, each prepared; the failures and paging travel along."""
    result: Page[Any] = Page(
        [prepare(item) for item in page],
        failures=list(getattr(page, "failures", [])),
        number=getattr(page, "number", 1),
        next_page_token=getattr(page, "next_page_token", None),
    )
    return result
