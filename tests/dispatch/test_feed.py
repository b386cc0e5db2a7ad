"""The JSON feed of upcoming timeslots for systems that pull."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from mapping.models import ApiToken
from tests.dispatch.helpers import iso, meter_notification, slot

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(db):
    api_token = ApiToken(name="scheduler")
    token = api_token.issue()
    api_token.save()
    return token


def get(client, token, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/dispatch/feed.json", params, headers=headers)


@pytest.fixture
def upcoming(deliver, make_meter):
    """Two meters, a few timeslots from now on; one overruled, one cancelled, one a test."""
    now = timezone.now().replace(microsecond=0)
    a, b = make_meter(), make_meter()
    ids = {name: uuid.uuid4() for name in ("high", "low", "cancelled", "far", "test", "past")}
    deliver(
        meter_notification(
            (
                a.pk,
                [
                    slot(ids["high"], start=now + timedelta(hours=1), priority=1),
                    slot(ids["low"], start=now + timedelta(hours=1), priority=3),
                    slot(ids["past"], start=now - timedelta(hours=3)),
                ],
            ),
            (b.pk, [slot(ids["cancelled"], start=now + timedelta(hours=2), cancelled=True)]),
        )
    )
    deliver(meter_notification((b.pk, [slot(ids["far"], start=now + timedelta(days=5))])))
    deliver(
        meter_notification(
            (b.pk, [slot(ids["test"], start=now + timedelta(hours=1))]), integration_test=True
        )
    )
    return {"now": now, "a": a, "b": b, **ids}


def test_the_feed_needs_a_valid_token(client, token, upcoming):
    assert get(client, None).status_code == 401
    assert get(client, "lpt_wrong").status_code == 401
    ApiToken.objects.update(revoked_at=timezone.now())
    assert get(client, token).status_code == 401


def test_the_feed_lists_upcoming_live_timeslots_with_the_plan(
    client, token, upcoming, django_assert_num_queries
):
    with django_assert_num_queries(5):  # client, last_used, timeslots, allocations, overrulers
        response = get(client, token)

    assert response.status_code == 200
    data = response.json()
    events = [t["event_id"] for t in data["timeslots"]]
    assert set(events) == {str(upcoming[k]) for k in ("high", "low", "cancelled")}
    low = next(t for t in data["timeslots"] if t["event_id"] == str(upcoming["low"]))
    assert low["meters"][0]["follow"] is False
    assert low["meters"][0]["overruled_by"] == str(upcoming["high"])
    assert low["version"] == 1 and low["priority"] == 3
    cancelled = next(t for t in data["timeslots"] if t["event_id"] == str(upcoming["cancelled"]))
    assert cancelled["cancelled"] is True
    assert ApiToken.objects.get().last_used_at is not None


def test_the_feed_filters(client, token, upcoming):
    now = upcoming["now"]
    wide = get(client, token, **{"from": iso(now), "to": iso(now + timedelta(days=7))}).json()
    assert str(upcoming["far"]) in {t["event_id"] for t in wide["timeslots"]}

    tests = get(client, token, include_tests="true").json()
    assert str(upcoming["test"]) in {t["event_id"] for t in tests["timeslots"]}

    live = get(client, token, include_cancelled="false").json()
    assert str(upcoming["cancelled"]) not in {t["event_id"] for t in live["timeslots"]}

    mine = get(client, token, meter_id=str(upcoming["a"].pk)).json()
    assert {t["event_id"] for t in mine["timeslots"]} == {
        str(upcoming["high"]),
        str(upcoming["low"]),
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "from must be an ISO 8601"),
        ({"from": "2026-12-01T00:00:00"}, "UTC offset"),
        ({"include_tests": "maybe"}, "true or false"),
        ({"meter_id": "42"}, "meter_id must be a UUID"),
        ({"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "after from"),
        ({"from": "2026-12-01T00:00:00Z", "to": "2027-02-01T00:00:00Z"}, "31 days"),
    ],
)
def test_bad_feed_parameters_get_a_clear_400(client, token, params, message):
    response = get(client, token, **params)

    assert response.status_code == 400
    assert message in response.json()["error"]
