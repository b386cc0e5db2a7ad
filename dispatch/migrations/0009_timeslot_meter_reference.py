"""The timeline's "by meter" order from a column of the timeslot, kept by PostgreSQL (issue 15).

The order was the meter's present partner_reference read per timeslot: a primary-key lookup
into meters_meter for every timeslot of the window before a page of 50 could be picked. At
66,532 meter timeslots in a day (bench/mixed_load.py's burst) that query took 306-402 ms alone
and decided the page p95 under load (docs/benchmarks.md, runs 15-23).

`meter_reference` holds it on the timeslot. Triggers keep it, so no code path (the ORM, the
dispatch apply's bulk writes, the sync's UPDATE .. FROM staging, the mapping's changes, SQL by
hand) can let it drift:
- every INSERT or UPDATE of a timeslot reads its meter's reference (one lookup, the same the
  page paid per row before, now paid once per write instead of once per row per page view);
- a meter whose partner_reference changes passes it on to its timeslots.
A meter deleted sets its timeslots' meter to NULL (Django's SET_NULL issues that UPDATE), so
their reference goes with it.
"""

from django.db import migrations, models

FORWARD = """
UPDATE dispatch_dispatchtimeslot t SET meter_reference = m.partner_reference
  FROM meters_meter m WHERE m.meter_id = t.meter_id AND m.partner_reference IS NOT NULL;

CREATE FUNCTION dispatch_timeslot_meter_reference() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.meter_id IS NULL THEN
        NEW.meter_reference := NULL;
    ELSE
        SELECT partner_reference INTO NEW.meter_reference
          FROM meters_meter WHERE meter_id = NEW.meter_id;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER timeslot_meter_reference
BEFORE INSERT OR UPDATE ON dispatch_dispatchtimeslot
FOR EACH ROW EXECUTE FUNCTION dispatch_timeslot_meter_reference();

CREATE FUNCTION dispatch_meter_reference_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dispatch_dispatchtimeslot SET meter_reference = NEW.partner_reference
     WHERE meter_id = NEW.meter_id;
    RETURN NULL;
END $$;

CREATE TRIGGER meter_reference_to_timeslots
AFTER UPDATE OF partner_reference ON meters_meter
FOR EACH ROW WHEN (OLD.partner_reference IS DISTINCT FROM NEW.partner_reference)
EXECUTE FUNCTION dispatch_meter_reference_changed();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS meter_reference_to_timeslots ON meters_meter;
DROP FUNCTION IF EXISTS dispatch_meter_reference_changed();
DROP TRIGGER IF EXISTS timeslot_meter_reference ON dispatch_dispatchtimeslot;
DROP FUNCTION IF EXISTS dispatch_timeslot_meter_reference();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0008_timeslot_group_members_gin"),
        ("meters", "0012_syncrun_gave_way_seconds"),
    ]

    operations = [
        migrations.AddField(
            model_name="dispatchtimeslot",
            name="meter_reference",
            field=models.CharField(blank=True, editable=False, max_length=256, null=True),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.AddIndex(
            model_name="dispatchtimeslot",
            index=models.Index(
                condition=models.Q(("integration_test", False)),
                fields=["meter_reference", "meter_uuid", "start_time", "event_id"],
                include=("end_time", "cancelled"),
                name="timeslot_live_by_meter",
            ),
        ),
    ]
