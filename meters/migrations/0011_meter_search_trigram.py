"""A trigram index for the meter list's text search (meters.forms.search, issue 15).

The search looks for a substring in eight fields; without an index PostgreSQL tested every meter
(a term that matched nothing read all 100,000 rows, with eight ILIKEs each: ~1 s p95 with ten
people browsing). The index holds the upper-cased fields joined by newlines
(meters.forms.SearchDocument), so `UPPER(document) LIKE UPPER('%term%')` is one index lookup.
Not in the model's Meta: an expression index over eight columns with an operator class, kept
here with the expression it must match.

ANALYZE after it: PostgreSQL keeps statistics of an index's expression only once the table is
analyzed, and without them it guesses that any term matches ~10 meters. A common term ("orchard",
one meter in eight at 100,000) then took a bitmap scan and a sort of 12,000 rows (340 ms) instead
of the list order read until 50 match (2.5 ms), and a term that matches nothing took that list
order with the filter over every meter (450 ms) instead of the index (0.5 ms). Autovacuum would
analyze it in time, where it runs.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

FIELDS = (
    "partner_reference",
    "end_customer_name",
    "end_customer_company_name",
    "street_1",
    "city",
    "postal_code",
    "end_customer_email",
    "electric_service_account_number",
)
DOCUMENT = " || E'\\n' || ".join(f'COALESCE("{name}", \'\')' for name in FIELDS)


class Migration(migrations.Migration):
    dependencies = [
        ("meters", "0010_meter_status_summary_index"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunSQL(
            f"CREATE INDEX meter_search_trgm ON meters_meter USING gin "
            f"(UPPER(({DOCUMENT})::text) gin_trgm_ops)",
            "DROP INDEX IF EXISTS meter_search_trgm",
        ),
        migrations.RunSQL("ANALYZE meters_meter", migrations.RunSQL.noop),
    ]
