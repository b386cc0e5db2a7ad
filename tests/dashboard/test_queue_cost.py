"""What made the action queue and the groups pages cheaper with ten people browsing (issue 15,
bench/mixed_load.py), kept: the queue's rows rendered in Python, byte for byte the rows of the
template they replace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meters.models import ReasonCode, RequiredAction
from ops.models import ActionWorkItem
from tests.dashboard.factories import make_action, make_meter

NASTY = '<b>Tom & "Jerry\'s"</b>'


def _varied_actions(worker):
    """Actions of every kind a queue row shows differently, with HTML-special text from Leap."""
    now = datetime.now(UTC)
    plain = make_meter(
        partner_reference="ref-1", end_customer_name="Alice", transmission_region="CAISO"
    )
    nasty = make_meter(
        partner_reference=NASTY, end_customer_name=NASTY, transmission_region="<MARS&>"
    )
    bare = make_meter(partner_reference=None, end_customer_name=None, transmission_region="")
    for code, fields in [
        ("AUTH_0001", {"title": 'Re-<authorize> "now"', "guidance": "Call & ask"}),
        ("NEW_0001", {"title": "", "guidance": "", "needs_guidance": True}),
        ("IS_TYPED", {"title": "By its type", "guidance": "From the type"}),
    ]:
        ReasonCode.objects.update_or_create(code=code, defaults=fields)
    actions = [
        make_action(plain, code="MRKT_0002", deadline=now - timedelta(hours=5)),
        make_action(plain, code="AUTH_0001", deadline=now + timedelta(hours=30)),
        make_action(nasty, code=NASTY, action_type=NASTY, description=NASTY, deadline=None),
        make_action(nasty, code="NEW_0001", action_type="NEW_TYPE", side="leap", deadline=now + timedelta(days=20)),
        make_action(bare, code="OTHER", action_type="IS_TYPED", description="",
                    deadline=now + timedelta(seconds=20), resolved_at=now),
        make_action(bare, code="NEW_0001", action_type="NEW_TYPE", deadline=now - timedelta(days=3), resolved_at=now),
    ]  # fmt: skip
    for action, fields in [
        (actions[0], {"state": "contacted", "assignee": worker, "snoozed_until": now + timedelta(days=1)}),
        (actions[1], {"state": "waiting_customer", "snoozed_until": now - timedelta(days=1)}),
        (actions[3], {"state": "done", "assignee": worker}),
        (actions[4], {"state": "new"}),
    ]:  # fmt: skip
        ActionWorkItem.objects.create(action=action, **fields)
    return actions


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator"])
@pytest.mark.parametrize("zone_mode", ["market", "utc"])
@pytest.mark.parametrize("grouped", [True, False])
def test_the_queue_rows_in_python_are_the_rows_of_the_template_byte_for_byte(
    role, zone_mode, grouped, make_user, rf
):
    import time_machine
    from django.template import RequestContext, Template
    from django.utils import timezone

    from leapportal import roles
    from leapportal.models import UserPreference
    from ops import queue

    user = make_user(role, username=f"<{role}&>")
    _varied_actions(user)
    if zone_mode == "utc":
        UserPreference.objects.create(user=user, time_zone="utc")
    request = rf.get("/actions/")
    request.user = user
    with time_machine.travel(timezone.now(), tick=False):
        actions = list(
            RequiredAction.objects.select_related("meter", "work_item__assignee").order_by(
                "code", "pk"
            )
        )
        queue.decorate(actions, queue.reason_codes(actions), emails=False)
        previous = None
        for action in actions:
            action.new_group = grouped and action.code != previous
            previous = action.code
        context = {
            "page": actions,
            "now": timezone.now(),
            "can_work": user.has_perm(roles.WORK_QUEUE),
        }
        # The queue's loop as it was (templates/ops/action_queue.html), and the tag that replaced it.
        loop = Template(
            "{% for action in page %}\n"
            '      {% if action.new_group %}<tbody><tr class="group-row"><th colspan="8">'
            "{{ action.code }}{% if action.reason.title %} — {{ action.reason.title }}{% endif %}"
            "</th></tr></tbody>{% endif %}\n"
            '      {% include "ops/partials/action_row.html" with open=False columns=8 %}\n'
            "    {% endfor %}"
        )
        expected = loop.render(RequestContext(request, context))
        rows = Template("{% load action_rows %}{% action_rows page %}")
        got = rows.render(RequestContext(request, context))
    assert got == expected
    # What the rows show, so that both cannot be equally empty or equally unescaped:
    assert got.count("<tbody id=") == len(actions) == 6
    assert got.count('class="group-row"') == (5 if grouped else 0)
    assert "<b>Tom" not in got and "&lt;b&gt;Tom &amp; &quot;Jerry&#x27;s&quot;&lt;/b&gt;" in got
    assert (
        "Re-&lt;authorize&gt; &quot;now&quot;" in got
        and '<td class="nowrap">&lt;MARS&amp;&gt;</td>' in got
    )
    assert "no guidance" in got and 'badge--info">Leap' in got and "is-resolved" in got
    assert got.count(">snoozed in ") == 1 and "&lt;" + role in got and ">no deadline<" in got
    assert ('name="ids"' in got) == (role == "operator")
    assert ("America/Los_Angeles" in got) == (zone_mode == "market")


def _navigation_queries(captured):
    """The queries that read the saved views, the open alerts or the time-zone preference."""
    tables = ("ops_savedview", "alerts_alert", "ops_userpreference")
    return [q["sql"] for q in captured if any(table in q["sql"] for table in tables)]


@pytest.mark.django_db
def test_a_page_reads_the_menu_the_alert_count_and_the_time_zone_in_one_query_a_fragment_less(
    viewer_client,
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts.models import Alert

    make_action(make_meter())
    viewer_client.get("/actions/")  # warm the session
    with CaptureQueriesContext(connection) as page:
        assert viewer_client.get("/actions/").status_code == 200
    (menu,) = _navigation_queries(page.captured_queries)
    assert all(table in menu for table in ("ops_savedview", "alerts_alert", "ops_userpreference"))
    # An htmx fragment shows no navigation: only the preference its times need.
    with CaptureQueriesContext(connection) as fragment:
        response = viewer_client.get(
            "/actions/", {"code": "AUTH_0001"}, headers={"HX-Request": "true"}
        )
    assert response.status_code == 200 and b'id="nav-views"' not in response.content
    (preference,) = _navigation_queries(fragment.captured_queries)
    assert "ops_userpreference" in preference and "ops_savedview" not in preference
    assert Alert.objects.count() == 0  # the count query ran over an empty table all the same


@pytest.mark.django_db
def test_a_saved_view_or_a_preference_changed_shows_on_the_next_page(make_user, client):
    from alerts.models import Alert
    from leapportal.models import UserPreference
    from ops.models import SavedView

    user = make_user("viewer")
    client.force_login(user)
    make_action(make_meter(transmission_region="CAISO"))

    def nav(path="/groups/"):
        body = client.get(path).content.decode()
        views = (
            body.split('id="nav-views"')[1].split("</details>")[0] if "nav-views" in body else ""
        )
        utc = 'value="utc" class="btn btn--small is-on"' in body
        return views, utc, body

    views, utc, body = nav("/actions/")
    assert views == "" and not utc and "America/Los_Angeles" in body
    view = SavedView.objects.create(
        user=user, name="Late <ones>", page="ops:actions", query="urgency=overdue"
    )
    views, utc, _ = nav()
    assert "Late &lt;ones&gt;" in views and 'href="/actions/?urgency=overdue"' in views and not utc
    views, _, _ = nav("/actions/?urgency=overdue")
    assert 'href="/actions/?urgency=overdue" aria-current="page"' in views
    view.name, view.query = "Overdue", "urgency=soon"
    view.save()
    views, _, _ = nav()
    assert ">Overdue<" in views and "Late" not in views and "urgency=soon" in views
    UserPreference.objects.create(user=user, time_zone="utc")
    _, utc, body = nav("/actions/")
    assert utc and "America/Los_Angeles" not in body  # the rows' times follow the same preference
    view.delete()
    views, utc, _ = nav()
    assert views == "" and utc
    Alert.objects.create(kind=Alert.Kind.NEW_ACTION, key="k1", title="New")
    assert 'title="open alerts">1</span>' in nav()[2]


@pytest.mark.django_db
def test_the_lane_tabs_count_each_lanes_open_actions_in_one_query(django_assert_num_queries):
    from ops import queue

    now = datetime.now(UTC)
    meter = make_meter()
    for i, side in enumerate(["partner", "partner", "partner", "leap", "leap"]):
        make_action(meter, side=side, code=f"C_{i}", resolved_at=now if i in (2, 4) else None)
    open_query = queue.parse({"status": "open"})
    expected = [
        (lane, queue.base_queryset(open_query, side=lane.key).count()) for lane in queue.LANES
    ]
    with django_assert_num_queries(1):
        assert queue.lane_counts() == expected
    assert [n for _, n in expected] == [2, 1]


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["open", "resolved", "all"])
def test_the_lane_tabs_show_the_work_to_do_under_every_status_filter(operator_client, status):
    """Under "resolved" the tabs counted the open actions among the resolved ones: 0 and 0."""
    import re

    now = datetime.now(UTC)
    meter = make_meter()
    for i, side in enumerate(["partner", "partner", "partner", "leap", "leap"]):
        make_action(meter, side=side, code=f"C_{i}", resolved_at=now if i in (2, 4) else None)

    page = operator_client.get("/actions/", {"status": status}).content.decode()

    tabs = page[
        page.index('aria-label="Lanes"') : page.index("</nav>", page.index('aria-label="Lanes"'))
    ]
    badges = re.findall(
        r'href="\?side=(\w+)"[^>]*>[^<]*<span class="badge[^"]*">(\d+)</span>', tabs
    )
    assert badges == [("partner", "2"), ("leap", "1")]


@pytest.mark.django_db
def test_the_queue_reads_only_the_columns_its_rows_show(operator_client, make_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    action = make_action(make_meter(partner_reference="p-1", utility_name="Never shown"))
    ActionWorkItem.objects.create(
        action=action, state="contacted", assignee=make_user(username="w1")
    )
    operator_client.get("/actions/")
    with CaptureQueriesContext(connection) as page:
        response = operator_client.get("/actions/")
    assert b"p-1" in response.content and b"Contacted</span> w1" in response.content
    (rows,) = [q["sql"] for q in page.captured_queries if 'FROM "meters_requiredaction"' in q["sql"]
               and '"meters_meter"."partner_reference"' in q["sql"].split(" FROM ")[0]]  # fmt: skip
    select = rows.split(" FROM ")[0]
    assert '"meters_meter"."utility_name"' not in select and '"auth_user"."password"' not in select
