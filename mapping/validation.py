"""The rules for mapping values, shared by the page form, the CSV import and the API."""

from __future__ import annotations

import re
import uuid

# Our customer and site ids: what our own systems issue. Letters, digits and . _ - : @, which
# also keeps them comparable with Leap's partner_reference (3–256 chars, no / \\ ? [ ] { } etc.).
IDENTIFIER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]*")
IDENTIFIER_MAX = 128
LABEL_MAX = 200
REASON_MIN = 3
REASON_MAX = 500
FORMULA_STARTS = frozenset("=+-@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidValue(ValueError):
    """A value breaks the rules; the message says which rule, for a person to read."""

    def __init__(self, message: str, *, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


def clean_identifier(value: str | None, *, field: str, required: bool) -> str:
    """A customer or site id, stripped; '' only when not required."""
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidValue(f"{field} is required")
        return ""
    if len(value) > IDENTIFIER_MAX:
        raise InvalidValue(f"{field} is {len(value)} characters long; at most {IDENTIFIER_MAX}")
    if not IDENTIFIER_RE.fullmatch(value):
        raise InvalidValue(
            f"{field} {value!r} may only contain letters, digits and . _ - : @ "
            "(and must start with a letter or digit)"
        )
    return value


def clean_label(value: str | None) -> str:
    """A free-text label, stripped, one line."""
    value = (value or "").strip()
    if len(value) > LABEL_MAX:
        raise InvalidValue(f"label is {len(value)} characters long; at most {LABEL_MAX}")
    if _CONTROL.search(value):
        raise InvalidValue("label must be a single line without control characters")
    if value[:1] in FORMULA_STARTS:
        # Exported CSVs are opened in spreadsheets; a leading = + - @ would run as a formula.
        raise InvalidValue(f"label must not start with {value[0]!r}")
    return value


def clean_reason(value: str | None) -> str:
    """Why a change is made: required on every change."""
    value = (value or "").strip()
    if len(value) < REASON_MIN:
        raise InvalidValue(f"a reason of at least {REASON_MIN} characters is required")
    if len(value) > REASON_MAX:
        raise InvalidValue(f"reason is {len(value)} characters long; at most {REASON_MAX}")
    return value


def clean_meter_id(value: str | None) -> uuid.UUID:
    """Leap's meter_id, a UUID."""
    value = (value or "").strip()
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidValue(f"meter_id {value!r} is not a UUID") from None


def clean_mapping(
    customer_id: str | None, site_id: str | None, label: str | None
) -> dict[str, str]:
    """All three mapping fields at once; InvalidValue.errors names every field that is wrong."""
    result: dict[str, str] = {}
    errors: dict[str, str] = {}
    try:
        result["customer_id"] = clean_identifier(customer_id, field="customer_id", required=True)
    except InvalidValue as exc:
        errors["customer_id"] = str(exc)
    try:
        result["site_id"] = clean_identifier(site_id, field="site_id", required=False)
    except InvalidValue as exc:
        errors["site_id"] = str(exc)
    try:
        result["label"] = clean_label(label)
    except InvalidValue as exc:
        errors["label"] = str(exc)
    if errors:
        raise InvalidValue("; ".join(errors.values()), errors=errors)
    return result
