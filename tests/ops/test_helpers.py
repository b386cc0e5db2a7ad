"""The shared dashboard helpers: market time, DST days, sorting, capped pagination, CSV, urgency."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.db.models import Value
from django.db.models.functions import Concat

from leapportal.web import csvexport, listing, timefmt, urgency

LA = ZoneInfo("America/Los_Angeles")


def test_market_times_name_their_zone_and_follow_dst():
    before = datetime(2026, 3, 8, 9, 30, tzinfo=UTC)  # 01:30 PST
    after = datetime(2026, 3, 8, 10, 30, tzinfo=UTC)  # 03:30 PDT (02:xx does not exist)
    assert '2026-03-08 01:30 <span class="tz">PST</span>' in timefmt.format_dt(before, LA)
    assert '2026-03-08 03:30 <span class="tz">PDT</span>' in timefmt.format_dt(after, LA)
    assert 'datetime="2026-03-08T09:30:00Z"' in timefmt.format_dt(before, LA)


def test_the_repeated_hour_of_the_fall_change_is_told_apart():
    first = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT
    second = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)  # 01:30 PST, an hour later
    assert timefmt.iso_with_offset(first, LA) == "2026-11-01T01:30:00-07:00"
    assert timefmt.iso_with_offset(second, LA) == "2026-11-01T01:30:00-08:00"
    assert "PDT" in timefmt.format_dt(first, LA) and "PST" in timefmt.format_dt(second, LA)


def test_dst_days_are_23_and_25_hours_long():
    start, end = timefmt.day_bounds(date(2026, 3, 8), LA)
    assert end - start == timedelta(hours=23)
    assert start == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    start, end = timefmt.day_bounds(date(2026, 11, 1), LA)
    assert end - start == timedelta(hours=25)


def test_regions_map_to_their_market_zone_and_utc_mode_overrides():
    assert timefmt.zone_for("CAISO").key == "America/Los_Angeles"
    assert timefmt.zone_for("ERCOT").key == "America/Chicago"
    for region in ("NYISO", "ISONE", "PJM"):
        assert timefmt.zone_for(region).key == "America/New_York"
    assert timefmt.zone_for("CAISO", "utc").key == "UTC"
    assert timefmt.market_today(LA, datetime(2026, 3, 8, 7, 0, tzinfo=UTC)) == date(2026, 3, 7)


def test_sort_is_limited_to_allowed_keys_and_always_stable():
    allowed = {"name": ["name"], "seen": ["-last_seen_at"]}
    sort = listing.parse_sort("-name", allowed, default="name")
    assert (sort.key, sort.descending, sort.param) == ("name", True, "-name")
    assert sort.order_by[-1] == "-pk"
    assert sort.toggled("name") == "name" and sort.toggled("seen") == "seen"
    fallback = listing.parse_sort("password", allowed, default="-seen")
    assert (fallback.key, fallback.descending) == ("seen", True)


@pytest.mark.django_db
def test_pagination_counts_at_most_the_cap(django_assert_num_queries):
    User.objects.bulk_create(User(username=f"u{i:03d}") for i in range(30))
    users = User.objects.order_by("username")
    with django_assert_num_queries(2):
        page = listing.paginate(users, {"page": "2"}, per_page=10, cap=25)
    assert [u.username for u in page] == [f"u{i:03d}" for i in range(10, 20)]
    assert page.count_capped and page.count == 25 and page.num_pages is None
    assert page.has_previous and page.has_next
    with django_assert_num_queries(1):  # everything on one page: no count query
        small = listing.paginate(users[:5], {}, per_page=10)
    assert small.count == 5 and not small.has_next
    nonsense = listing.paginate(users, {"page": "abc", "per_page": "7"}, cap=100)
    assert nonsense.number == 1 and nonsense.per_page == listing.DEFAULT_PER_PAGE
    exact = listing.paginate(users, {"page": "3"}, per_page=10, cap=100)
    assert exact.count == 30 and exact.num_pages == 3 and not exact.has_next


@pytest.mark.django_db
def test_a_page_found_first_reads_only_its_own_rows_in_one_query(django_assert_num_queries):
    User.objects.bulk_create(User(username=f"u{i:03d}", last_name=f"{i % 3}") for i in range(30))
    users = User.objects.order_by("last_name", "-username")
    decorated = User.objects.annotate(shown=Concat("username", Value("!")))
    with django_assert_num_queries(2):  # the rows (keys picked in a subquery) and the count
        page = listing.paginate(users, {"page": "2"}, per_page=7, rows_from=decorated)
    # exactly the rows and order of the plain page, each read from rows_from
    assert [u.username for u in page] == [u.username for u in users[7:14]]
    assert [u.shown for u in page] == [f"{u.username}!" for u in users[7:14]]
    assert page.count == 30 and page.has_next and page.has_previous


def test_csv_streams_rows_and_defuses_formulas():
    response = csvexport.stream_csv(
        "meters",
        ["name", "when"],
        [["=HYPERLINK(1)", "2026"], ["Pump", None]],
        now=datetime(2026, 3, 8, 9, 30, tzinfo=UTC),
    )
    assert response.streaming
    assert 'filename="meters-20260308T0930Z.csv"' in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines() == ["name,when", "'=HYPERLINK(1),2026", "Pump,"]


def test_urgency_and_countdown():
    now = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert urgency.urgency(None, now) == "none"
    assert urgency.urgency(now - timedelta(minutes=1), now) == "overdue"
    assert urgency.urgency(now + timedelta(days=2), now) == "soon"
    assert urgency.urgency(now + timedelta(days=5), now) == "later"
    assert urgency.countdown(now + timedelta(days=2, hours=4), now) == "in 2d 4h"
    assert urgency.countdown(now - timedelta(hours=3, minutes=5), now) == "3h 05m ago"
    assert urgency.countdown(now + timedelta(seconds=20), now) == "in <1m"
