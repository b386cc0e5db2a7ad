"""The timeline's "by group" order from a column of the timeslot, kept by PostgreSQL (issue 15).

The week view's default order was the group's present name, read through a join: before a page
of 50 could be picked, every timeslot of the window was joined to meters_marketgroup and sorted,
with a parallel seq scan. At 139,000 timeslots (bench/mixed_load.py's database after its burst)
that took 58-73 ms alone, and /dispatch/ was the slowest page under load in seven runs of ten
(docs/benchmarks.md, runs 47-57).

`market_group_name` holds the name on the timeslot, as 0009's meter_reference holds the meter's
reference, and an index in the page's order serves it. Triggers keep it, whatever writes either
row (the ORM, the dispatch apply's COPY and UPDATE .. FROM staging, the sync's SQL, by hand):
- an INSERT of a timeslot with a group reads the group's name (meter timeslots have none: the
  trigger's WHEN skips them, so the hot path of meter dispatches pays no function call);
- an UPDATE reads it only when market_group_id or market_group_name is set to a different value
  (0010's reasoning: a stale ORM save() carries an old name and gets the present one back; a
  group deleted sets market_group_id NULL, and the name goes with it);
- a group whose name changes passes it on to its timeslots.
"""

from django.db import migrations, models

FORWARD = """
UPDATE dispatch_dispatchtimeslot t SET market_group_name = g.name
  FROM meters_marketgroup g WHERE g.market_group_id = t.market_group_id;

CREATE FUNCTION dispatch_timeslot_group_name() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.market_group_id IS NULL THEN
        NEW.market_group_name := NULL;
    ELSE
        SELECT name INTO NEW.market_group_name
          FROM meters_marketgroup WHERE market_group_id = NEW.market_group_id;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER timeslot_group_name
BEFORE INSERT ON dispatch_dispatchtimeslot
FOR EACH ROW WHEN (NEW.market_group_id IS NOT NULL OR NEW.market_group_name IS NOT NULL)
EXECUTE FUNCTION dispatch_timeslot_group_name();

CREATE TRIGGER timeslot_group_name_changed
BEFORE UPDATE OF market_group_id, market_group_name ON dispatch_dispatchtimeslot
FOR EACH ROW WHEN (
    OLD.market_group_id IS DISTINCT FROM NEW.market_group_id
    OR OLD.market_group_name IS DISTINCT FROM NEW.market_group_name
)
EXECUTE FUNCTION dispatch_timeslot_group_name();

CREATE FUNCTION dispatch_group_name_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dispatch_dispatchtimeslot SET market_group_name = NEW.name
     WHERE market_group_id = NEW.market_group_id;
    RETURN NULL;
END $$;

CREATE TRIGGER group_name_to_timeslots
AFTER UPDATE OF name ON meters_marketgroup
FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
EXECUTE FUNCTION dispatch_group_name_changed();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS group_name_to_timeslots ON meters_marketgroup;
DROP FUNCTION IF EXISTS dispatch_group_name_changed();
DROP TRIGGER IF EXISTS timeslot_group_name_changed ON dispatch_dispatchtimeslot;
DROP TRIGGER IF EXISTS timeslot_group_name ON dispatch_dispatchtimeslot;
DROP FUNCTION IF EXISTS dispatch_timeslot_group_name();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0011_redundant_indexes_dropped"),
        ("meters", "0013_syncrun_unvalidated"),
    ]

    operations = [
        migrations.AddField(
            model_name="dispatchtimeslot",
            name="market_group_name",
            field=models.CharField(blank=True, editable=False, max_length=256, null=True),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.AddIndex(
            model_name="dispatchtimeslot",
            index=models.Index(
                condition=models.Q(("integration_test", False)),
                fields=["market_group_name", "market_group_uuid", "start_time", "event_id"],
                include=("end_time", "cancelled"),
                name="timeslot_live_by_group",
            ),
        ),
    ]
