"""The alerts page (filters, reloadable URLs, htmx fragments), one alert, the count in the navigation,
and the roles: viewers read, operators acknowledge and snooze."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import evaluate
from alerts.models import Alert
from tests.alerts.test_evaluate import fresh_runs
from tests.dashboard.factories import make_action, make_meter, make_timeslot

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


@pytest.fixture
def alerts_raised():
    now = timezone.now()
    fresh_runs(now)
    make_action(make_meter(partner_reference="late-1"), deadline=now - timedelta(hours=2))
    make_action(make_meter(partner_reference="soon-1"), deadline=now + timedelta(hours=5))
    make_meter(partner_reference="gone-1", missing_since=now)
    evaluate.evaluate(now)
    return {a.title: a for a in Alert.objects.all()}


def test_the_alerts_page_filters_by_status_kind_severity_and_text(client, make_user, alerts_raised):
    client.force_login(make_user("viewer", username="vera"))
    page = client.get("/alerts/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Overdue: AUTH_0001 on late-1" in html and "gone-1 went missing" in html
    assert 'badge--nav" title="open alerts">5<' in html  # 2 new actions, overdue, 1 day, missing

    overdue = client.get("/alerts/?kind=overdue").content.decode()
    assert "late-1" in overdue and "gone-1" not in overdue and "<html" in overdue  # reloadable
    fragment = client.get("/alerts/?severity=critical", headers=HX).content.decode()
    assert "<html" not in fragment and 'id="alert-table"' in fragment
    assert "late-1" in fragment and "soon-1" in fragment and "gone-1" not in fragment
    assert "gone-1" in client.get("/alerts/?q=gone").content.decode()
    assert "No alerts match" in client.get("/alerts/?status=resolved").content.decode()
    assert client.get("/alerts/?status=nonsense&kind=bogus&sort=zzz").status_code == 200
    # viewers see no buttons
    assert 'value="acknowledge"' not in html


def test_operators_acknowledge_and_snooze_and_the_count_follows(client, make_user, alerts_raised):
    alert = alerts_raised["Overdue: AUTH_0001 on late-1"]
    viewer = make_user("viewer", username="vic")
    client.force_login(viewer)
    assert client.post(f"/alerts/{alert.pk}/status", {"do": "acknowledge"}).status_code == 403

    client.force_login(make_user("operator", username="olga"))
    row = client.post(f"/alerts/{alert.pk}/status", {"do": "acknowledge"}, headers=HX)
    assert row.status_code == 200 and "Acknowledged" in row.content.decode()
    assert row["HX-Trigger"] == "alertsChanged"
    other = alerts_raised["gone-1 went missing from Leap's portfolio"]
    assert (
        client.post(f"/alerts/{other.pk}/status", {"do": "snooze", "for": "4h"}).status_code == 302
    )
    assert (
        client.post(f"/alerts/{other.pk}/status", {"do": "snooze", "for": "9y"}).status_code == 400
    )
    page = client.get("/alerts/").content.decode()
    assert 'title="open alerts">3<' in page

    detail = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert (
        "olga" in detail and "acknowledged" in detail and f"/actions/{alert.action_id}/" in detail
    )
    other.refresh_from_db()
    assert other.status == "snoozed" and other.snoozed_until > timezone.now() + timedelta(hours=3)


def test_every_alert_page_answers_and_links_to_its_cause(client, make_user, alerts_raised):
    make_timeslot(meter=None, start_time=timezone.now() + timedelta(hours=1))  # unknown meter
    evaluate.evaluate()
    client.force_login(make_user("viewer", username="val"))
    for alert in Alert.objects.all():
        page = client.get(f"/alerts/{alert.pk}/")
        assert page.status_code == 200
        link = page.content.decode().split('class="btn btn--primary" href="')[1].split('"')[0]
        assert client.get(link).status_code == 200, (alert.kind, link)
    unknown = Alert.objects.get(kind="unknown_meter")
    assert "/dispatch/events/" in client.get(f"/alerts/{unknown.pk}/").content.decode()
    assert client.get("/alerts/999999/").status_code == 404


def test_admins_see_alerts_and_messages_in_the_django_admin(client, make_user, alerts_raised):
    client.force_login(make_user("admin", username="ada"))
    alert = Alert.objects.first()
    for url in ["/admin/alerts/alert/", f"/admin/alerts/alert/{alert.pk}/change/",
                "/admin/alerts/outboundmessage/", "/admin/alerts/notificationpreference/"]:  # fmt: skip
        assert client.get(url).status_code == 200, url


def test_an_operator_acknowledges_all_alerts_a_filter_shows(client, make_user, alerts_raised):
    client.force_login(make_user("operator", username="otto"))
    response = client.post("/alerts/acknowledge-all", {"status": "live", "severity": "critical"})
    assert (
        response.status_code == 302
        and response["Location"] == "/alerts/?status=live&severity=critical"
    )
    acked = Alert.objects.filter(status="acknowledged")
    assert {a.severity for a in acked} == {"critical"} and acked.count() == 2
    assert {
        (c.by.username, c.from_status) for a in acked for c in a.changes.exclude(to_status="open")
    } == {("otto", "open")}
    assert Alert.objects.filter(status="open").count() == 3  # the others untouched
    client.force_login(make_user("viewer", username="vi"))
    assert client.post("/alerts/acknowledge-all", {}).status_code == 403
