"""The fetch process of meters.search.FetchProcess: `python -m meters.search_process`.

Django is set up before anything of the project is imported (the prepared rows are cut to the
models' column lengths). No database connection is opened: the process only talks to Leap.
"""

from __future__ import annotations

import os


def main() -> None:
    """Keep standard output for the pickles, then run the job read from standard input."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed (or logged to stdout) goes to stderr, not into the pipe
    import django

    django.setup()
    from meters.search import child_main

    child_main(out)


if __name__ == "__main__":
    main()
