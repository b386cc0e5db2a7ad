"""The meter page's dispatches through indexes (issue 15): its own, and its groups' by member.

dispatch.templatetags.dispatch_alerts.meter_dispatches asks for `meter_id = X OR (level =
'group' AND group_meter_ids @> '["X"]')`. With no index on the members, the OR made PostgreSQL
read every timeslot (~45 ms at 50,000, growing with every dispatch kept). A GIN index on the
members of group-level timeslots only (meter-level ones, the bulk of the dispatch load, pay
nothing for it) lets the planner OR two index lookups.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0007_timeline_and_recheck_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX timeslot_group_members ON dispatch_dispatchtimeslot "
            "USING gin (group_meter_ids jsonb_path_ops) WHERE level = 'group'",
            "DROP INDEX IF EXISTS timeslot_group_members",
        ),
    ]
