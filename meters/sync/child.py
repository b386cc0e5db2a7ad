"""The fetch process of meters.sync.speed.FetchProcess: `python -m meters.sync.child`.

Django is set up before anything of the project is imported (the prepared rows are cut to the
models' column lengths), which is why meters/sync/__init__.py imports nothing. No database
connection is opened: the process only talks to Leap.
"""

from __future__ import annotations

import os

import django


def main() -> None:
    """Keep standard output for the pickles, then run the job read from standard input."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed (or logged to stdout) goes to stderr, not into the pipe
    django.setup()
    # Only now: importing the project before Django is set up would fail.
    from meters.sync.speed.fetch_process import child_main

    child_main(out)


if __name__ == "__main__":
    main()
