"""The groups list's rows and a group's member rows rendered in Python (ops/templatetags/
group_rows.py): byte for byte the rows of the template loops they replace (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meters.models import GroupAssignment
from tests.dashboard.factories import make_group, make_meter

# The loops as they were in templates/ops/group_list.html and group_detail.html (less {% empty %}).
GROUP_LOOP = (
    '{% for fig in page %}\n'
    '      <tr id="group-{{ fig.group.pk }}" class="{% if fig.movers %}is-highlight{% endif %}">\n'
    '        <td><a href="{{ fig.group.pk|id_url:\'ops:group\' }}">{{ fig.group.name|default:fig.group.pk }}</a></td>\n'
    '        <td>{{ fig.group.region }}</td><td class="small">{{ fig.group.program_identifier }}</td>\n'
    '        {% for d in fig.day_rows %}<td class="num" title="{{ d.day|date:\'D Y-m-d\' }}">{{ d.members|intcomma }}{% if d.joining %} <span class="delta delta--in">+{{ d.joining }}</span>{% endif %}{% if d.leaving %} <span class="delta delta--out">−{{ d.leaving }}</span>{% endif %}<div class="small muted">{{ d.day|date:"D m-d" }}</div></td>{% endfor %}\n'
    '        <td class="num">{% if fig.movers %}<b>{{ fig.movers }}</b>{% else %}0{% endif %}</td>\n'
    '        <td class="num">{% if fig.not_active %}<span class="urgency--overdue">{{ fig.not_active }}</span>{% else %}0{% endif %}</td>\n'
    '        {% if mapping %}<td class="num">{% if fig.unmapped %}<span class="urgency--soon">{{ fig.unmapped }}</span>{% else %}0{% endif %}</td>{% endif %}\n'
    '        <td>{% if fig.ready %}<span class="badge badge--ok">ready</span>{% elif fig.members.0 %}<span class="badge badge--bad">not ready</span>{% else %}<span class="badge">empty today</span>{% endif %}</td>\n'
    '        <td class="nowrap"><a class="btn btn--small" href="{{ fig.group.pk|id_url:\'ops:group_export\' }}" download>Members CSV</a></td>\n'
    '      </tr>\n'
    '    {% endfor %}'
)  # fmt: skip
MEMBER_LOOP = (
    '{% for a in page %}<tr id="member-{{ a.meter_id }}" class="{% if index and not a.was_member or not a.stays and index < 2 %}is-highlight{% endif %}">\n'
    '      <td><a href="{{ a.meter_id|id_url:\'meters:detail\' }}">{{ a.meter.partner_reference|default:a.meter_id }}</a></td>\n'
    '      <td>{{ a.meter.end_customer_name|default:"" }}</td>\n'
    '      <td><span class="badge badge--{{ a.meter.global_enrollment_status }}">{{ a.meter.global_enrollment_status|default:"—" }}</span></td>\n'
    '      {% if mapping %}<td class="small">{% if a.meter.mapping %}<a href="{{ a.meter_id|id_url:\'mapping:meter\' }}">{{ a.meter.mapping.customer_id }} / {{ a.meter.mapping.site_id|default:"—" }}</a>{% else %}<span class="urgency--soon">unmapped</span>{% endif %}</td>{% endif %}\n'
    '      <td class="small">{% if index and not a.was_member %}<span class="delta delta--in">joins {{ day|date:"m-d" }}</span>{% endif %} {% if not a.stays and index < 2 %}<span class="delta delta--out">leaves after {{ day|date:"m-d" }}</span>{% endif %}</td>\n'
    '      <td class="small">{{ a.source }}</td></tr>\n'
    '    {% endfor %}'
)  # fmt: skip
NASTY = '<b>Tom & "Jerry\'s"</b>'


def _varied_groups():
    """Groups with members joining, leaving, not ACTIVE or unmapped, and HTML-special names."""
    from mapping.models import MeterMapping
    from ops import groups

    named, unnamed, empty = (
        make_group(name=NASTY),
        make_group(name="", region="ERCOT"),
        make_group(name="zz"),
    )
    named.program_identifier = "P&<1>"
    named.save()
    today = groups.trade_days_for("CAISO", datetime.now(UTC))[0]
    days = [today + timedelta(days=i) for i in range(3)]
    meters = [
        make_meter(partner_reference=NASTY, end_customer_name=NASTY, global_enrollment_status="PEND<ING>"),
        make_meter(partner_reference=None, end_customer_name=None, global_enrollment_status=""),
        make_meter(partner_reference="b-2"),
        make_meter(partner_reference="c-3"),
    ]  # fmt: skip
    MeterMapping.objects.create(meter=meters[0], customer_id="<C&1>", site_id="")
    MeterMapping.objects.create(meter=meters[2], customer_id="c2", site_id="s&2")
    membership = {0: (0, 1, 2), 1: (1, 2), 2: (0, 1), 3: (0, 2)}  # meter -> its days in `named`
    for i, on in membership.items():
        for d in on:
            GroupAssignment.objects.create(
                meter=meters[i], trade_date=days[d], market_group=named, source="en<roll>"
            )
    for d in range(3):
        GroupAssignment.objects.create(
            meter=meters[2], trade_date=days[d], market_group=unnamed, source="enrollment"
        )
    for meter in [make_meter() for _ in range(3)]:  # empty today; three join tomorrow only
        GroupAssignment.objects.create(
            meter=meter, trade_date=days[1], market_group=empty, source="x"
        )
    return [named, unnamed, empty], days


@pytest.mark.django_db
@pytest.mark.parametrize("mapping", [True, False])
def test_the_group_rows_in_python_are_the_rows_of_the_template_byte_for_byte(mapping, rf):
    import time_machine
    from django.template import RequestContext, Template
    from django.utils import timezone

    from ops import groups

    found, _ = _varied_groups()
    request = rf.get("/groups/")
    with time_machine.travel(timezone.now(), tick=False):
        figures = groups.figures(found, timezone.now())
        context = {"page": figures, "mapping": mapping}
        expected = Template("{% load humanize links %}" + GROUP_LOOP).render(
            RequestContext(request, context)
        )
        got = Template("{% load group_rows %}{% group_rows page mapping %}").render(
            RequestContext(request, context)
        )
    assert got == expected
    assert got.count("<tr id=") == 3 and "&lt;b&gt;Tom &amp;" in got and "<b>Tom" not in got
    assert "P&amp;&lt;1&gt;" in got and "delta--in" in got and "delta--out" in got
    assert "badge--ok" in got and "not ready" in got and "empty today" in got
    assert ('urgency--soon">' in got) == mapping


@pytest.mark.django_db
@pytest.mark.parametrize("mapping", [True, False])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_the_member_rows_in_python_are_the_rows_of_the_template_byte_for_byte(mapping, index, rf):
    from django.template import RequestContext, Template

    from ops import groups

    (named, _, _), days = _varied_groups()
    rows = list(groups.by_reference(groups.members(named, days[index])))
    context = {"page": rows, "mapping": mapping, "index": index, "day": days[index]}
    request = rf.get(f"/groups/{named.pk}/")
    expected = Template("{% load links %}" + MEMBER_LOOP).render(RequestContext(request, context))
    got = Template("{% load group_rows %}{% member_rows page %}").render(
        RequestContext(request, context)
    )
    assert got == expected
    assert got.count("<tr id=") == len(rows) == 3 and "<b>Tom" not in got
    assert "&lt;b&gt;Tom &amp;" in got and "PEND&lt;ING&gt;" in got and "en&lt;roll&gt;" in got
    assert ("&lt;C&amp;1&gt; / —" in got) == mapping and ("unmapped" in got) == mapping
    assert ("joins " in got) == (index > 0) and ("leaves after" in got) == (index < 2)
