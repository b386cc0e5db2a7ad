# The time-zone preference moves to leapportal (the web toolkit's time formatting reads it, and
# it sits below the apps). Its table stays: only the migration state changes here, and
# leapportal 0003 takes the model over with db_table "ops_userpreference".

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('ops', '0004_merge_20261205_0920'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='UserPreference')],
            database_operations=[],
        ),
    ]
