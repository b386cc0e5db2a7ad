#!/usr/bin/env python
from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["embedded_db"]:
        # Starts/stops the embedded PostgreSQL (leapportal/embedded_db.py) that the settings may
        # need in order to load, so it runs without them.
        from leapportal.embedded_db import main  # only this subcommand needs it

        sys.exit(main(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leapportal.settings")
    # After DJANGO_SETTINGS_MODULE is set, as Django's own manage.py does.
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
