"""Every CSV we write goes through here: formula-safe cells, safe file names, streamed rows.

Streaming: rows go out as they are read, so 100,000 rows never sit in memory.

Formula injection: spreadsheet apps execute a cell that starts with `=`, `+`, `-` or `@` (and
some with a leading tab or carriage return). Text from outside (Leap's partner_reference, customer
names, tags, a reason someone typed) must stay text, so such a cell gets a leading apostrophe.
Lists (tags, load types) are joined first and the joined text is checked, so `["=cmd"]` is
defused too. Our own imports read the apostrophe back off (`unescape_cell`), so exporting and
importing again changes nothing.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from django.http import StreamingHttpResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def safe_cell(value: Any) -> Any:
    """The value as a cell a spreadsheet shows as text, never runs."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = " ".join("" if v is None else str(v) for v in value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """Undo safe_cell on a value read back from one of our files."""
    if len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def csv_rows(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, lineterminator: str = "\r\n"
) -> Iterable[str]:
    """Yield the encoded lines of a CSV: the header, then each row, every cell made safe."""
    writer = csv.writer(_Echo(), lineterminator=lineterminator)
    yield writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])


def safe_filename(name: str, *, fallback: str = "export") -> str:
    """An ASCII file name of letters, digits, '.', '_' and '-' (no quote, newline or slash)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-.")
    return cleaned[:120] or fallback


def attachment(filename: str) -> str:
    """A Content-Disposition value for `filename`, whatever characters it came with."""
    base, dot, ext = filename.rpartition(".")
    plain = safe_filename(base) + dot + safe_filename(ext) if dot else safe_filename(filename)
    value = f'attachment; filename="{plain}"'
    if plain != filename:  # the original (unicode) name for clients that understand RFC 6266
        printable = "".join(c for c in filename if unicodedata.category(c)[0] != "C")
        value += f"; filename*=UTF-8''{quote(printable, safe='')}"
    return value


def stream_response(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    lineterminator: str = "\r\n",
) -> StreamingHttpResponse:
    """A streamed text/csv attachment with exactly this (sanitised) file name."""
    response = StreamingHttpResponse(
        csv_rows(header, rows, lineterminator=lineterminator),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = attachment(filename)
    response["Cache-Control"] = "no-store"
    return response


def stream_csv(
    basename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    now: datetime | None = None,
) -> StreamingHttpResponse:
    """A streamed text/csv attachment named basename-YYYYMMDDTHHMMZ.csv."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%MZ")
    return stream_response(f"{basename}-{stamp}.csv", header, rows)
