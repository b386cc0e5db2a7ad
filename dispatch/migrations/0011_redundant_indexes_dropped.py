"""Indexes that another index of the same table already covers, dropped from the dispatch tables.

Every notification writes a delivery row and, per timeslot, a timeslot, a version and an
allocation; each index is one more write per row (and more WAL). These five served nothing the
other index does not (bench/mixed_load.py's database: the composite ones took the scans):
- dispatch_dispatchtimeslot (meter_id): covered by (meter_id, start_time);
- dispatch_dispatchtimeslot (end_time): covered by (end_time, start_time);
- dispatch_dispatchtimeslotversion (timeslot_id): covered by (timeslot_id, version);
- dispatch_dispatchallocation (timeslot_id): covered by the unique (timeslot_id, meter_uuid);
- dispatch_dispatchdelivery (body_sha256), with its varchar_pattern_ops twin: nothing looks a
  delivery up by its hash (the admin's search is a substring match, which neither can serve).

Only the indexes are dropped: Django's AlterField would also drop and re-add the foreign keys,
re-checking every row of the largest tables under a lock, for no change.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    ("dispatch_dispatchtimeslot_meter_id_911418a4", "dispatch_dispatchtimeslot (meter_id)"),
    ("dispatch_dispatchtimeslot_end_time_fdb20e3f", "dispatch_dispatchtimeslot (end_time)"),
    (
        "dispatch_dispatchtimeslotversion_timeslot_id_ab380aca",
        "dispatch_dispatchtimeslotversion (timeslot_id)",
    ),
    (
        "dispatch_dispatchallocation_timeslot_id_cacb2c51",
        "dispatch_dispatchallocation (timeslot_id)",
    ),
    ("dispatch_dispatchdelivery_body_sha256_51b7e153", "dispatch_dispatchdelivery (body_sha256)"),
    (
        "dispatch_dispatchdelivery_body_sha256_51b7e153_like",
        "dispatch_dispatchdelivery (body_sha256 varchar_pattern_ops)",
    ),
]

FORWARD = [f"DROP INDEX IF EXISTS {name};" for name, _ in INDEXES]
BACKWARD = [f"CREATE INDEX IF NOT EXISTS {name} ON {on};" for name, on in INDEXES]


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0010_timeslot_reference_trigger_narrowed"),
        ("meters", "0012_syncrun_gave_way_seconds"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
            state_operations=[
                migrations.AlterField(
                    model_name="dispatchallocation",
                    name="timeslot",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="allocations",
                        to="dispatch.dispatchtimeslot",
                    ),
                ),
                migrations.AlterField(
                    model_name="dispatchdelivery",
                    name="body_sha256",
                    field=models.CharField(max_length=64),
                ),
                migrations.AlterField(
                    model_name="dispatchtimeslot",
                    name="end_time",
                    field=models.DateTimeField(),
                ),
                migrations.AlterField(
                    model_name="dispatchtimeslot",
                    name="meter",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="dispatch_timeslots",
                        to="meters.meter",
                    ),
                ),
                migrations.AlterField(
                    model_name="dispatchtimeslotversion",
                    name="timeslot",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="versions",
                        to="dispatch.dispatchtimeslot",
                    ),
                ),
            ],
        )
    ]
