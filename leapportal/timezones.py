"""Which clock each Leap market runs on, and its trade days.

Leap stores and sends UTC; a market's trade day starts at local midnight of its grid operator.
This is the one table from transmission region to time zone (the sync derives group assignments
per trade day with it; pages show market-local times with it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

REGION_TIMEZONES: dict[str, str] = {
    "CAISO": "America/Los_Angeles",
    "ERCOT": "America/Chicago",
    "NYISO": "America/New_York",
    "ISONE": "America/New_York",
    "PJM": "America/New_York",
    # SERC's members Leap serves (TVA and its distributors) run on Central time.
    "SERC": "America/Chicago",
    # WECC_SW is the desert south-west (SRP: Arizona keeps no daylight saving time).
    "WECC_SW": "America/Phoenix",
    "WECC_PC": "America/Los_Angeles",
}
DEFAULT_TIMEZONE = "UTC"
TRADE_DAYS_AHEAD = 2  # the seed: group assignment for today and the next two trade days


def zone_for(region: str | None) -> ZoneInfo:
    """The market's time zone; UTC for a region we do not know."""
    return ZoneInfo(REGION_TIMEZONES.get(region or "", DEFAULT_TIMEZONE))


def trade_date(region: str | None, at: datetime) -> date:
    """The trade day that the aware instant `at` falls on in the region's market."""
    return at.astimezone(zone_for(region)).date()


def trade_day_bounds(region: str | None, day: date) -> tuple[datetime, datetime]:
    """[start, end) of a trade day as aware UTC datetimes (23 or 25 hours on DST days)."""
    zone = zone_for(region)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def trade_days(region: str | None, now: datetime, ahead: int = TRADE_DAYS_AHEAD) -> list[date]:
    """Today and the next `ahead` trade days in the region's market."""
    today = trade_date(region, now)
    return [today + timedelta(days=offset) for offset in range(ahead + 1)]
