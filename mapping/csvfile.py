"""Reading a mapping CSV: its columns, decoding the bytes, and the rows with their line numbers.

The import (mapping/imports.py) plans what the rows would change; the export writes the same
columns, so exporting and importing again changes nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

from leapportal.web import csvexport

COLUMNS = ("meter_id", "partner_reference", "customer_id", "site_id", "label")
KEY_COLUMNS = ("meter_id", "partner_reference")
VALUE_COLUMNS = ("customer_id", "site_id", "label")


class FileRefused(Exception):
    """The file as a whole cannot be read as a mapping CSV; the message says why and what to do."""


def decode(raw: bytes) -> str:
    """The file's text: UTF-8, with or without a byte-order mark."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRefused(
            "The file is UTF-16 (Excel's “Unicode text”). Save it as “CSV UTF-8” and upload again."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FileRefused(
            f"The file is not UTF-8: byte 0x{raw[exc.start]:02x} on line {line} is not valid "
            "UTF-8 (the file is probably Windows-1252 or Latin-1). Save it as “CSV UTF-8” "
            "and upload again. Nothing was imported."
        ) from None
    if "\x00" in text:
        raise FileRefused("The file contains NUL bytes; it is not a CSV text file.")
    return text


def read_rows(text: str) -> Iterator[tuple[int, list[str] | None, str]]:
    """Check the header, then yield (line, values in COLUMNS order, "") or (line, None, problem)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FileRefused(f"Line 1 is not valid CSV: {exc}.") from None
    if not header or not any(h.strip() for h in header):
        raise FileRefused("The file is empty: expected a header line " + ",".join(COLUMNS) + ".")
    names = [h.strip().lower() for h in header]
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        sep = "semicolons" if ";" in names[0] else "tabs"
        raise FileRefused(f"The columns are separated by {sep}; use commas.")
    problems = []
    unknown = [h for h in names if h not in COLUMNS]
    if unknown:
        problems.append("unexpected column(s) " + ", ".join(repr(h) for h in unknown))
    repeated = sorted({h for h in names if names.count(h) > 1})
    if repeated:
        problems.append("column(s) given twice: " + ", ".join(repeated))
    missing = [c for c in VALUE_COLUMNS if c not in names]
    if not any(k in names for k in KEY_COLUMNS):
        missing.insert(0, "meter_id or partner_reference")
    if missing:
        problems.append("missing column(s) " + ", ".join(missing))
    if problems:
        raise FileRefused(
            "The header is wrong: "
            + "; ".join(problems)
            + ". Expected: "
            + ",".join(COLUMNS)
            + " (meter_id or partner_reference may be left out)."
        )
    positions = [names.index(c) if c in names else None for c in COLUMNS]
    width = len(names)
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue  # blank lines, e.g. the trailing one
            if len(values) != width:
                yield reader.line_num, None, f"has {len(values)} fields; the header has {width}"
                continue
            # A cell our export defused ('=...) is read back as it was in Leap / the mapping.
            values = [
                csvexport.unescape_cell(values[p].strip()) if p is not None else ""
                for p in positions
            ]
            yield reader.line_num, values, ""
    except csv.Error as exc:
        raise FileRefused(f"Line {reader.line_num} is not valid CSV: {exc}.") from None
