# WebhookAuthFailure, moved from dispatch with its table (see dispatch 0006): state only.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('leapportal', '0003_userpreference'),
        ('dispatch', '0006_webhookauthfailure_moves_to_leapportal'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='WebhookAuthFailure',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('day', models.DateField()),
                        ('level', models.CharField(choices=[('meter', 'Meter dispatches'), ('group', 'Group dispatches'), ('events', 'Meter events')], max_length=10)),
                        ('count', models.PositiveIntegerField(default=0)),
                        ('last_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('last_remote_addr', models.GenericIPAddressField(blank=True, null=True)),
                        ('last_reason', models.CharField(blank=True, max_length=40)),
                    ],
                    options={
                        'db_table': 'dispatch_webhookauthfailure',
                        'ordering': ['-day', 'level'],
                        'constraints': [models.UniqueConstraint(fields=('day', 'level'), name='one_auth_failure_counter_a_day')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
