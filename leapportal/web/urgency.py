"""Countdowns and urgency colours for deadlines and upcoming starts."""

from __future__ import annotations

from datetime import datetime, timedelta

SOON = timedelta(days=3)


def urgency(deadline: datetime | None, now: datetime, *, soon: timedelta = SOON) -> str:
    """'overdue', 'soon' (within `soon`), 'later', or 'none' when there is no deadline."""
    if deadline is None:
        return "none"
    if deadline <= now:
        return "overdue"
    if deadline - now <= soon:
        return "soon"
    return "later"


def humanize_delta(delta: timedelta) -> str:
    """A compact duration: '2d 4h', '3h 05m', '12m', '<1m'."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return "<1m"


def countdown(target: datetime | None, now: datetime) -> str:
    """'in 2d 4h' for the future, '3h 05m ago' for the past, '' without a target."""
    if target is None:
        return ""
    delta = target - now
    if delta.total_seconds() >= 0:
        return f"in {humanize_delta(delta)}"
    return f"{humanize_delta(delta)} ago"
