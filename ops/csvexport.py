"""Streamed CSV downloads: rows go out as they are read, so 100,000 rows never sit in memory."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.http import StreamingHttpResponse


class _Echo:
    """A file-like object whose write() returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    # Spreadsheet apps execute cells that start with these characters (CSV injection);
    # a leading apostrophe makes them text. Customer names and addresses come from outside.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if value is None:
        return ""
    return value


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterable[str]:
    """Yield the encoded lines of a CSV: the header, then each row."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


def stream_csv(
    basename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    now: datetime | None = None,
) -> StreamingHttpResponse:
    """A streamed text/csv attachment named basename-YYYYMMDDTHHMMZ.csv."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%MZ")
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{basename}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
