"""iCalendar (RFC 5545) rendering of dispatch timeslots for ops calendars.

Each event's UID is Leap's event id, so a calendar updates the same entry when Leap updates or
cancels it (SEQUENCE = our version counter, STATUS:CANCELLED for cancelled ones).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from leap.schemas import SPECIAL_EVENT_TYPES

PRODID = "-//leapportal//dispatch calendar//EN"


def _escape(text: str) -> str:
    """TEXT value escaping: backslash, semicolon, comma and newlines (RFC 5545 §3.3.11)."""
    return (
        text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    ).replace("\r", "")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets, continuation lines starting with a space (§3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts: list[str] = []
    chunk = b""
    limit = 75
    for char in line:
        encoded = char.encode()
        if len(chunk) + len(encoded) > limit:
            parts.append(chunk.decode())
            chunk = b""
            limit = 74  # continuation lines carry the leading space
        chunk += encoded
    parts.append(chunk.decode())
    return "\r\n ".join(parts)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _summary(slot: Any) -> str:
    who = (
        f"group {slot.market_group.name if slot.market_group else slot.market_group_uuid}"
        if slot.level == "group"
        else f"meter {slot.partner_reference or slot.meter_uuid}"
    )
    energy = "max kW" if slot.energy_kw is None else f"{slot.energy_kw:g} kW"
    prefix = "CANCELLED: " if slot.cancelled else ""
    special = [
        SPECIAL_EVENT_TYPES[t] for t in slot.dispatch_event_types if t in SPECIAL_EVENT_TYPES
    ]
    if special:  # a capacity test or a real-time event must stand out in a calendar too
        prefix += "[" + ", ".join(s.upper() for s in special) + "] "
    kind = "voluntary" if slot.is_voluntary else "mandatory"
    return f"{prefix}Dispatch {energy} ({kind}, priority {slot.priority}) — {who}"


def _description(slot: Any) -> str:
    lines = [
        f"Leap event id: {slot.event_id}",
        f"Level: {slot.level}",
        f"Energy: {'as much as the meter can' if slot.energy_kw is None else f'{slot.energy_kw:g} kW'}",
        f"Nomination: {'' if slot.nomination_kw is None else f'{slot.nomination_kw:g} kW'}",
        f"Priority: {slot.priority}",
        f"Voluntary: {'yes' if slot.is_voluntary else 'no'}",
        f"Compensation cap: {slot.performance_compensation_cap or '-'}",
        f"Event types: {', '.join(slot.dispatch_event_types) or '-'}",
        f"Programs: {', '.join(slot.programs) or '-'}",
    ]
    if slot.communication_test:
        lines.append("Communication test")
    for kind in slot.dispatch_event_types:
        if kind in SPECIAL_EVENT_TYPES:
            lines.append(f"Special: {SPECIAL_EVENT_TYPES[kind]}")
    return "\n".join(lines)


def calendar_lines(
    slots: Iterable[Any],
    *,
    name: str,
    now: datetime,
    event_url: Callable[[Any], str] | None = None,
) -> Iterator[str]:
    """Yield the folded, CRLF-terminated lines of a VCALENDAR holding one VEVENT per slot.

    `event_url(slot)` gives the event's page on our dashboard (URL property, and in the text).
    """
    head = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
        "X-PUBLISHED-TTL:PT15M",
    ]
    for line in head:
        yield _fold(line) + "\r\n"
    for slot in slots:
        url = event_url(slot) if event_url else ""
        description = _description(slot) + (f"\nOn the dashboard: {url}" if url else "")
        event = [
            "BEGIN:VEVENT",
            f"UID:{slot.event_id}",
            f"DTSTAMP:{_utc(now)}",
            f"LAST-MODIFIED:{_utc(slot.changed_at)}",
            f"SEQUENCE:{slot.version}",
            f"DTSTART:{_utc(slot.start_time)}",
            f"DTEND:{_utc(slot.end_time)}",
            f"SUMMARY:{_escape(_summary(slot))}",
            *([f"URL:{url}"] if url else []),
            f"DESCRIPTION:{_escape(description)}",
            f"STATUS:{'CANCELLED' if slot.cancelled else 'CONFIRMED'}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
        for line in event:
            yield _fold(line) + "\r\n"
    yield "END:VCALENDAR\r\n"
