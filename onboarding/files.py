"""Reading an onboarding file (CSV or XLSX) into a header and lines of text.

Columns are the dotted paths of the create-meters body (`customer.postal_code`; Leap's own
export spells them `data.customer.postal_code`, also accepted), plus our own `customer_id`,
`site_id` and `label`, which link the created meter to our customer and site. A file whose
encoding, format or header is wrong is refused as a whole, with a message that says what to do.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from leap import create_meters as cm
from mapping.imports import FileRefused as _MappingRefused
from mapping.imports import decode

OUR_COLUMNS = ("customer_id", "site_id", "label")
KNOWN_COLUMNS = tuple(f.path for f in cm.FIELDS) + OUR_COLUMNS
XLSX_MAGIC = b"PK\x03\x04"


class FileRefused(Exception):
    """The file as a whole cannot be read; the message says why and what to do."""


def normalise(name: Any) -> str:
    """A header cell as a column name: trimmed, lower case, without Leap's `data.` prefix."""
    text = str(name if name is not None else "").strip().lower()
    return text[5:] if text.startswith("data.") else text


def check_header(names: list[str], required: list[str]) -> None:
    """Refuse a header with unknown, repeated or missing columns, naming them all."""
    if not names or not any(names):
        raise FileRefused("The file is empty: the first line must name the columns.")
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        sep = "semicolons" if ";" in names[0] else "tabs"
        raise FileRefused(f"The columns are separated by {sep}; use commas (or upload XLSX).")
    problems = []
    unknown = [n for n in names if n and n not in KNOWN_COLUMNS]
    if unknown:
        problems.append("unknown column(s) " + ", ".join(repr(n) for n in unknown))
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        problems.append("column(s) given twice: " + ", ".join(repeated))
    missing = [c for c in required if c not in names]
    if missing:
        problems.append("missing column(s) " + ", ".join(missing))
    if problems:
        raise FileRefused(
            "The header is wrong: "
            + "; ".join(problems)
            + ". Download the template for the chosen region, meter type and programs to see "
            "the expected columns. Nothing was sent to Leap."
        )


def read_csv(raw: bytes) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(normalised header, iterator of (line number, cells)) of a UTF-8 CSV."""
    try:
        text = decode(raw)
    except _MappingRefused as exc:
        message = str(exc).replace("Nothing was imported.", "Nothing was sent to Leap.")
        raise FileRefused(message) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None) or []
    except csv.Error as exc:
        raise FileRefused(f"Line 1 is not valid CSV: {exc}.") from None
    names = [normalise(h) for h in header]

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for values in reader:
                if any(v.strip() for v in values):
                    yield reader.line_num, values
        except csv.Error as exc:
            raise FileRefused(f"Line {reader.line_num} is not valid CSV: {exc}.") from None

    return names, rows()


def _cell_text(value: Any) -> str:
    """An XLSX cell as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a postal code typed as a number: 94103.0 -> 94103
    return str(value)


def read_xlsx(raw: bytes) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(normalised header, iterator of (row number, cells)) of the first sheet of an XLSX."""
    # Imported here, not at the top: openpyxl takes ~80 ms to import, and only an XLSX upload
    # needs it (every web and worker process would pay it at start).
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileRefused(
            f"The file is not a readable XLSX workbook ({type(exc).__name__}). Save it from Excel "
            "as “Excel Workbook (.xlsx)”, or as “CSV UTF-8”, and upload again."
        ) from None
    sheet = book.worksheets[0] if book.worksheets else None
    if sheet is None:
        raise FileRefused("The workbook has no sheet.")
    rows_iter = sheet.iter_rows(values_only=True)
    header = next(rows_iter, None) or ()
    names = [normalise(h) for h in header]
    while names and not names[-1]:
        names.pop()

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, values in enumerate(rows_iter, start=2):
            cells = [_cell_text(v) for v in values[: len(names)]]
            if any(c.strip() for c in cells):
                yield number, cells
        book.close()

    return names, rows()


def read(raw: bytes, filename: str) -> tuple[str, list[str], Iterator[tuple[int, list[str]]]]:
    """(source "csv"/"xlsx", header, rows) of an uploaded file, by its content."""
    if raw.startswith(XLSX_MAGIC) or filename.lower().endswith((".xlsx", ".xlsm")):
        return "xlsx", *read_xlsx(raw)
    if raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise FileRefused(
            "The file is an old Excel 97-2003 workbook (.xls). Save it as .xlsx or “CSV UTF-8”."
        )
    return "csv", *read_csv(raw)
