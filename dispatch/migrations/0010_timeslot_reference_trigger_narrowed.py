"""The timeslot's meter_reference is looked up only when the timeslot's meter may have changed.

0009's trigger ran on every UPDATE of a timeslot, so each dispatch update and cancel paid a
meter lookup (the apply's UPDATE .. FROM staging sets the content columns, and meter_id with
its unchanged value) for a reference that could not have moved: the reference changes only with
the meter (0009's meter trigger passes it on) or with the timeslot's meter_id. So:
- INSERT: as before, every new timeslot looks its meter's reference up;
- UPDATE: only when meter_id or meter_reference is set to a different value. Every path 0009
  covered still is: a timeslot attached to or detached from a meter (a parked meter arriving,
  SET_NULL when a meter is deleted) changes meter_id; an ORM save() of a stale instance
  carries an old meter_reference, different from the stored one, and the trigger overwrites it
  with the meter's present reference; 0009's meter trigger sets a new meter_reference.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER timeslot_meter_reference ON dispatch_dispatchtimeslot;
CREATE TRIGGER timeslot_meter_reference
BEFORE INSERT ON dispatch_dispatchtimeslot
FOR EACH ROW EXECUTE FUNCTION dispatch_timeslot_meter_reference();
CREATE TRIGGER timeslot_meter_reference_changed
BEFORE UPDATE OF meter_id, meter_reference ON dispatch_dispatchtimeslot
FOR EACH ROW WHEN (
    OLD.meter_id IS DISTINCT FROM NEW.meter_id
    OR OLD.meter_reference IS DISTINCT FROM NEW.meter_reference
)
EXECUTE FUNCTION dispatch_timeslot_meter_reference();
"""

BACKWARD = """
DROP TRIGGER timeslot_meter_reference_changed ON dispatch_dispatchtimeslot;
DROP TRIGGER timeslot_meter_reference ON dispatch_dispatchtimeslot;
CREATE TRIGGER timeslot_meter_reference
BEFORE INSERT OR UPDATE ON dispatch_dispatchtimeslot
FOR EACH ROW EXECUTE FUNCTION dispatch_timeslot_meter_reference();
"""


class Migration(migrations.Migration):
    dependencies = [("dispatch", "0009_timeslot_meter_reference")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
