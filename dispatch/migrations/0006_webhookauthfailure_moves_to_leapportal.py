# The refusal counter both webhook inboxes share moves to leapportal, beside the inbox base
# (leapportal/receivers.py), so meters' receiver no longer imports dispatch. Its table stays:
# only the migration state changes here, and leapportal 0004 takes the model over with
# db_table "dispatch_webhookauthfailure".

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('dispatch', '0005_merge_issue14_plans_and_delivery_sweeps'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='WebhookAuthFailure')],
            database_operations=[],
        ),
    ]
