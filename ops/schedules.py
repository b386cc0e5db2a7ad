"""A periodic task's schedule in words ("daily at 02:30 UTC · 18:30 PST"), for people.

django-celery-beat's own text (`30 2 * * * (m/h/dM/MY/d) UTC`) is for the admin. Schedules run in
UTC; in market mode the times are also given in the zones of the markets we have groups in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from leapportal.timezones import zone_for
from meters.models import MarketGroup

DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def _every(n: int, unit: str) -> str:
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


def _interval(every: int, period: str) -> str:
    unit = period.rstrip("s")  # days/hours/minutes/seconds/microseconds
    if unit == "second" and every % 3600 == 0:
        return _every(every // 3600, "hour")
    if unit == "second" and every % 60 == 0:
        return _every(every // 60, "minute")
    return _every(every, unit)


def market_zones() -> list[ZoneInfo]:
    """The zones of the markets we have groups in (a small table), in a stable order."""
    regions = MarketGroup.objects.order_by().values_list("region", flat=True).distinct()
    zones = {zone_for(r).key: zone_for(r) for r in regions if r}
    return [zones[k] for k in sorted(zones)]


def _at(hour: int, minute: int, mode: str, tz: Any, zones: list[ZoneInfo]) -> str:
    """'02:30 UTC', plus the same instant in each market zone in market mode."""
    moment = datetime.now(tz).replace(hour=hour, minute=minute, second=0, microsecond=0)
    moment = moment.astimezone(UTC)
    text = f"{moment:%H:%M} UTC"
    if mode == "utc":
        return text
    local = [f"{moment.astimezone(z):%H:%M} {moment.astimezone(z).tzname()}" for z in zones]
    return " · ".join([text, *dict.fromkeys(local)])


def _cron(  # noqa: PLR0913
    minute: str,
    hour: str,
    dom: str,
    month: str,
    dow: str,
    mode: str,
    tz: Any,
    zones: list[ZoneInfo],
) -> str:
    plain = dom == "*" and month == "*"
    if minute.isdigit() and hour.isdigit() and plain:
        when = _at(int(hour), int(minute), mode, tz, zones)
        if dow == "*":
            return f"daily at {when}"
        if dow.isdigit() and 0 <= int(dow) <= 6:
            return f"every {DAYS[int(dow)]} at {when}"
    if minute.isdigit() and hour == "*" and plain and dow == "*":
        return f"hourly at minute {int(minute)}"
    if minute.startswith("*/") and minute[2:].isdigit() and hour == "*" and plain and dow == "*":
        return _every(int(minute[2:]), "minute")
    if minute == "*" and hour == "*" and plain and dow == "*":
        return "every minute"
    # Anything rarer: the fields, named.
    return (
        f"at minute {minute}, hour {hour} (UTC), day of month {dom}, month {month}, weekday {dow}"
    )


def describe(task: Any, mode: str = "market", zones: list[ZoneInfo] | None = None) -> str:
    """A PeriodicTask's schedule in words; `zones`: the market zones to give times in too."""
    if getattr(task, "interval_id", None):
        return _interval(task.interval.every, task.interval.period)
    if getattr(task, "crontab_id", None):
        c = task.crontab
        tz = ZoneInfo(str(c.timezone or "UTC"))
        fields = (c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week)
        return _cron(*fields, mode, tz, market_zones() if zones is None else zones)
    if getattr(task, "clocked_id", None):
        return f"once, at {task.clocked.clocked_time.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if getattr(task, "solar_id", None):
        return str(task.solar)
    return str(getattr(task, "scheduler", "")) or "—"
