# The iCal feed's calendar tokens move to leapportal (dispatch's feed checks them, and dispatch sits
# below ops' pages). Their table stays: only the migration state changes here, and leapportal 0005
# takes the model over with db_table "ops_calendartoken".

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('ops', '0006_bulk_updates_in_the_worker'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='CalendarToken')],
            database_operations=[],
        ),
    ]
