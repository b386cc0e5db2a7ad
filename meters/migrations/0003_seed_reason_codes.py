# Seeds the ReasonCode catalogue with the codes and action types we know (meters/reason_codes.py).

from django.db import migrations


def seed(apps, schema_editor):
    from meters.reason_codes import seed as seed_catalogue

    seed_catalogue(apps.get_model("meters", "ReasonCode"))


class Migration(migrations.Migration):

    dependencies = [
        ("meters", "0002_portfolio"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
