"""How a changed value is kept in an audit trail (the work items' histories)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def display(value: Any) -> Any:
    """How a value is kept in the history: users by username, times as ISO with offset."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "get_username"):
        return value.get_username()
    return value
