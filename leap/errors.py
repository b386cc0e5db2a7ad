"""The errors the Leap client raises, classified once, and the parser of Leap's error bodies.

Callers only ever see these classes: `LeapUnavailable` (transient, already retried inside the
client), `LeapRejected` and its subclasses (permanent, never retried), and `LeapBadPayload` (Leap
answered, but an object in the answer does not fit our models).
"""

from __future__ import annotations

import json
from typing import Any

# Leap's bodies can be large (a torn page of 500 meters); logs and the sync-health page keep a head.
BODY_KEEP_CHARS = 2000


class LeapError(Exception):
    """Base of every error the Leap client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        body: str = "",
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body[:BODY_KEEP_CHARS] if body else ""
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        status = f"{self.status} " if self.status is not None else ""
        code = f"[{self.code}] " if self.code else ""
        return f"{status}{code}{self.message}{where}"


class LeapUnavailable(LeapError):
    """Transient failure (connection, timeout, 429, 5xx, torn JSON) that outlived the retries."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        attempts: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.attempts = attempts


class LeapRejected(LeapError):
    """Permanent refusal (400, 401, 403, 404, 409, 422): retrying the same request cannot help.

    `details` lists the per-item problems when Leap gave them as an array (a create-meters
    batch's `details`: `{message, json_index | csv_row, problem_field}`; a single create's
    `errors`: `{field, description, suggestions}`), read from the whole body, not its head.
    """

    def __init__(
        self, message: str, *, details: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.details = details or []


class LeapNotFound(LeapRejected):
    """404: Leap does not have the meter (or webhook) asked for."""


class LeapPageTokenExpired(LeapRejected):
    """A page token after the first page was refused: the caller must restart its search."""


class LeapBadPayload(LeapError):
    """An object Leap sent does not validate against our models; carries the raw object."""

    def __init__(
        self,
        message: str,
        *,
        raw: Any = None,
        errors: list[dict[str, Any]] | None = None,
        model: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.raw = raw
        self.errors = errors or []
        self.model = model

    @property
    def object_id(self) -> str | None:
        """The Leap id of the offending object when it can be read (meter id, group id...)."""
        if isinstance(self.raw, dict):
            for key in ("meter_id", "market_group_id", "webhook_event_id", "webhook_id"):
                value = self.raw.get(key)
                if isinstance(value, str) and value:
                    return value
        return None


def _text(value: Any) -> str | None:
    """A non-empty string from a JSON value, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return json.dumps(value, sort_keys=True, default=str)


def _details_text(details: Any) -> str | None:
    """Flatten the `details` of Leap's meters/create-meters envelopes (object or array)."""
    if isinstance(details, dict):
        if not details:
            return None
        return ", ".join(f"{key}: {_text(value)}" for key, value in details.items())
    if isinstance(details, list):
        parts = []
        for item in details:
            if isinstance(item, dict):
                text = _text(item.get("message") or item.get("description"))
                where = item.get("problem_field") or item.get("field")
                row = item.get("json_index", item.get("csv_row"))
                bits = [b for b in (text, f"field {where}" if where else None) if b]
                if row is not None:
                    bits.append(f"row {row}")
                parts.append(" ".join(bits) if bits else _text(item) or "")
            else:
                parts.append(_text(item) or "")
        return "; ".join(p for p in parts if p) or None
    return _text(details)


def error_details(text: str) -> list[dict[str, Any]]:
    """The per-item problems of an error body (`details` or `errors` array), [] if none."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    items = data.get("details")
    if not isinstance(items, list):
        items = data.get("errors")
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


def parse_error_body(text: str, status: int | None = None) -> tuple[str, str | None]:
    """(message, code) from any of Leap's error bodies, falling back to the plain text.

    Envelopes, per service: meters/enrollments `{title, status, details}` (details an object, or an
    array in create-meters), dispatch `{code, message, error_code}`, webhook platform
    `{error, message}`, create-single-meter `{errors: [{field, description, ...}]}`; and the
    plain-text 500 of meters/enrollments.
    """
    fallback = f"HTTP {status}" if status is not None else "empty response"
    stripped = (text or "").strip()
    if not stripped:
        return fallback, None
    try:
        data = json.loads(stripped)
    except ValueError:
        return stripped[:500], None
    if isinstance(data, str):
        return data.strip() or fallback, None
    if not isinstance(data, dict):
        return stripped[:500], None

    # Dispatch v2: code is the coarse class, error_code the precise one.
    if "code" in data and "message" in data:
        code = _text(data.get("error_code")) or _text(data.get("code"))
        return _text(data.get("message")) or _text(data.get("code")) or fallback, code
    # Webhook platform.
    if "error" in data and "message" in data:
        return _text(data.get("message")) or _text(data.get("error")) or fallback, _text(
            data.get("error")
        )
    # Create single meter.
    if isinstance(data.get("errors"), list):
        parts = []
        for item in data["errors"]:
            if isinstance(item, dict):
                field = item.get("field")
                description = _text(item.get("description")) or _text(item.get("message")) or ""
                parts.append(f"{field}: {description}" if field else description)
            else:
                parts.append(_text(item) or "")
        return "; ".join(p for p in parts if p) or fallback, None
    # Meters, enrollments, nominations, create-meters batch, revenue.
    if "title" in data or "details" in data:
        title = _text(data.get("title"))
        details = _details_text(data.get("details"))
        message = " - ".join(p for p in (title, details) if p) or fallback
        return message, None
    for key in ("message", "detail", "error", "description"):
        if _text(data.get(key)):
            return _text(data.get(key)) or fallback, None
    return stripped[:500], None
