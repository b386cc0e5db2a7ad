"""mailto: links to an address that comes from Leap or a customer, made safe to click."""

from __future__ import annotations

from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.core.validators import validate_email


def plain_email(address: str | None) -> str:
    """The address, percent-encoded for a mailto: link, if it is one valid email; else ''."""
    text = (address or "").strip()
    try:
        validate_email(text)
    except ValidationError:
        return ""
    return quote(text, safe="@")


def mailto(address: str | None, subject: str, body: str) -> str:
    """A mailto: link with subject and body (RFC 6068 percent-encoding); '' without a valid
    address (an address from Leap with '?bcc=...' in it must not add recipients)."""
    email = plain_email(address)
    if not email:
        return ""
    return f"mailto:{email}?subject={quote(subject)}&body={quote(body)}"
