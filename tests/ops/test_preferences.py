"""Time-zone preference and the per-user iCal feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from leapportal.models import CalendarToken, UserPreference
from tests.dashboard.factories import make_timeslot


def test_a_user_switches_to_utc_and_back(viewer_client):
    response = viewer_client.post("/me/time-zone", {"time_zone": "utc", "next": "/me/"})
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert UserPreference.objects.get().time_zone == "utc"
    response = viewer_client.post(
        "/me/time-zone", {"time_zone": "market"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204 and response["HX-Refresh"] == "true"
    assert UserPreference.objects.get().time_zone == "market"


def test_a_bad_time_zone_choice_is_refused_and_next_must_be_local(viewer_client):
    assert viewer_client.post("/me/time-zone", {"time_zone": "Mars"}).status_code == 400
    response = viewer_client.post(
        "/me/time-zone", {"time_zone": "utc", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_the_feed_address_is_shown_once_and_rotation_kills_the_old_one(viewer_client):
    page = viewer_client.post("/me/calendar-token")
    first = re.search(rb"http://testserver(/dispatch/calendar/[^<\"]+\.ics)", page.content)
    assert first
    assert viewer_client.get("/me/").content.count(b".ics") == 0  # not shown again
    assert viewer_client.get(first.group(1).decode()).status_code == 200
    second = re.search(
        rb"http://testserver(/dispatch/calendar/[^<\"]+\.ics)",
        viewer_client.post("/me/calendar-token").content,
    )
    assert viewer_client.get(first.group(1).decode()).status_code == 404
    assert viewer_client.get(second.group(1).decode()).status_code == 200


def test_the_ical_feed_uses_event_ids_as_uids_and_needs_no_login(client, make_user, db):
    user = make_user("viewer")
    token = CalendarToken.issue(user)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    live = make_timeslot(start_time=start, energy_kw=None, partner_reference="site-7, north")
    gone = make_timeslot(start_time=start, cancelled=True, version=3)
    make_timeslot(start_time=start, integration_test=True)
    make_timeslot(start_time=datetime(2020, 1, 1, tzinfo=UTC))  # long past: left out

    response = client.get(f"/dispatch/calendar/{token}.ics")  # anonymous client
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert body.count("BEGIN:VEVENT") == 2
    assert f"UID:{live.event_id}\r\n" in body and f"UID:{gone.event_id}\r\n" in body
    assert f"DTSTART:{start:%Y%m%dT%H%M%SZ}" in body
    assert "STATUS:CANCELLED" in body and "SEQUENCE:3" in body
    assert "site-7\\, north" in body  # TEXT escaping
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    assert CalendarToken.objects.get().last_used_at is not None


def test_the_ical_feed_refuses_unknown_tokens_and_inactive_users(client, make_user, db):
    user = make_user("viewer")
    token = CalendarToken.issue(user)
    assert client.get("/dispatch/calendar/lpc_nope.ics").status_code == 404
    user.is_active = False
    user.save()
    assert client.get(f"/dispatch/calendar/{token}.ics").status_code == 404
