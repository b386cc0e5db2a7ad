# CalendarToken, moved from ops with its table (see ops 0007): state only, no database change.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('leapportal', '0004_webhookauthfailure'),
        ('ops', '0007_calendartoken_moves_to_leapportal'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CalendarToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('token_sha256', models.CharField(max_length=64, unique=True)),
                        ('token_prefix', models.CharField(max_length=10)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('last_used_at', models.DateTimeField(blank=True, null=True)),
                        ('revoked_at', models.DateTimeField(blank=True, help_text='Set: the feed answers 404 (the user or an admin revoked it)', null=True)),
                        ('revoked_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='calendar_token', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'ops_calendartoken',
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
