"""The catalogue entry the unresponsive-meters lane renders its customer email from.

Created only when missing: an admin's edits in the Django admin are never overwritten.
"""

from __future__ import annotations

from django.db import migrations

CODE = "UNRESPONSIVE_METER"
ENTRY = {
    "kind": "action_code",  # ours, not one of the 14 action types Leap sends
    "title": "Meter never or rarely responds to dispatches",
    "who_acts": "customer",
    "guidance": (
        "Leap's monthly diagnosis lists this meter as never or rarely responding to dispatch "
        "events, so it earns little and may draw penalties. Contact the customer: check the "
        "device is online and enrolled in automation, and that nobody overrides events. If it "
        "cannot respond, idle it in Leap's Partner Portal so it stops counting against the "
        "portfolio's performance."
    ),
    "email_subject": "Your site {street_1} has not responded to recent energy events",
    "email_body": (
        "Dear {end_customer_name},\n\nOver the last months your site at {street_1}, {city} "
        "(account {electric_service_account_number}) has not responded to most of the energy "
        "events it was called for. Could you check that your equipment is online and that "
        "events are not being overridden? Reply to this email and we will help you get it "
        "working again, or pause your participation if that suits you better.\n\n"
        "Thank you,\nYour energy programs team"
    ),
    "link": "https://partner.leap.energy/",
}


def add(apps, schema_editor):
    reason_code = apps.get_model("meters", "ReasonCode")
    reason_code.objects.get_or_create(code=CODE, defaults=ENTRY)


def remove(apps, schema_editor):
    apps.get_model("meters", "ReasonCode").objects.filter(code=CODE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("revenue", "0001_revenue_reports_versions_and_responsiveness"),
        ("meters", "0007_raw_payloads_lz4"),
    ]

    operations = [migrations.RunPython(add, remove)]
