"""Table rows built in Python as the template engine would render them (autoescape on).

For the dense lists whose rows cost most of a page through the template engine (the meter list,
the dispatch timeline): each `{{ value }}` is `text(value)`, each `|join:sep` is `join(...)`.
Every value from Leap or from people goes through `esc`, conditional_escape's rule.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

from django.utils.formats import localize

# Types localize() returns unchanged (a str subclass, e.g. a SafeString, is not one of them).
_AS_TEXT = frozenset({str, uuid.UUID, type(None)})


def esc(value: Any) -> str:
    """conditional_escape without its lazy-string wrapper (called tens of times a row): a safe
    string as it is, anything else as escape() gives it (html.escape of its text)."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


def text(value: Any) -> str:
    """`{{ value }}` with autoescape: localized, as text, escaped (None shows as "None")."""
    if type(value) in _AS_TEXT:  # localize gives these back as they are
        return html.escape(str(value))
    return esc(localize(value))


def join(values: Any, separator: str) -> str:
    """`{{ values|join:separator }}` with autoescape (a value that is not iterable as it is)."""
    try:
        return esc(separator).join(esc(v) for v in values)
    except TypeError:
        return text(values)
