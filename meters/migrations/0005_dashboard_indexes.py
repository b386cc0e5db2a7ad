# Indexes the dashboard's pages need at 100k meters (bench/pages.py).

from django.db import migrations, models

LIST_INDEX = "meter_region_status_updated"


CREATE_LIST_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {LIST_INDEX} ON meters_meter "
    "(transmission_region, global_enrollment_status, leap_updated_at DESC NULLS LAST, meter_id DESC)"
)
DROP_LIST_INDEX = f"DROP INDEX IF EXISTS {LIST_INDEX}"


class Migration(migrations.Migration):

    dependencies = [
        ('meters', '0004_sync_failures'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='groupassignment',
            index=models.Index(fields=['market_group', 'trade_date', 'meter'], name='group_members_by_day'),
        ),
        # The meter list's "region + status, latest Leap update first" view reads this index in
        # the list's own order (NULLS LAST, meter_id tiebreak) instead of sorting every matching
        # row: 169.7 ms -> 59.7 ms p95 at 100k meters.
        migrations.RunSQL(CREATE_LIST_INDEX, DROP_LIST_INDEX),
    ]
