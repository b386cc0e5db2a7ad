# UserPreference, moved from ops with its table (see ops 0005): state only, no database change.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('leapportal', '0002_worker_heartbeat'),
        ('ops', '0005_userpreference_moves_to_leapportal'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='UserPreference',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('time_zone', models.CharField(choices=[('market', 'Market time (zone named)'), ('utc', 'UTC')], default='market', max_length=10)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='ops_preference', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'ops_userpreference',
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
