"""The sync's speed machinery behind one door: the only code that knows about threads, the fetch
process, pickling and the paused garbage collector.

The engine (meters/sync/engine.py) reads a search as an iterator of prepared pages
(`open_search`) and hands each planned page to a `PageWriter`; how those run is decided here.

Modules: `threads` (a search read by background threads, the paused collector), `fetch_process`
(a search read by a child process, pickling), `writer` (the page writer and its threads).

- Reading a search. `prefetch`: threads of this process fetch, validate and prepare pages ahead
  of the planner. `FetchProcess`: a separate Python process (`python -m meters.sync.child`) does
  the same and sends the prepared pages over a pipe as pickles. The full sync's long searches use
  it when the client can be rebuilt in another process (settings.METERS_SYNC_FETCH_PROCESS):
  validating and flattening Leap's objects is about half of the sync's Python time
  (bench/sync.py), and in a thread it holds the interpreter lock the planner and the page
  writers need. In its own process it runs on the other core. Either way a page's objects that
  do not validate travel with it (`page.failures`), an error is raised in the reader at the point
  it was reached, and the client's counters (requests, retries, failures) end up on the caller's
  client. A full search first reads the stored hashes of the present meters: an object Leap
  sends unchanged is passed to the planner without being validated (meters/sync/known.py).
- Writing pages. `PageWriter` writes planned pages inline, or on writer threads with their own
  database connections while the next page is planned.
- `PausedGC`: the cyclic collector paused during the run, collecting every few pages.
"""

from __future__ import annotations

from django.conf import settings

from leap.client import LeapClient
from leap.schemas import MeterFilter
from meters.sync.known import Known, stored_hashes
from meters.sync.searches import PREPARE, search_pages
from meters.sync.speed.fetch_process import FetchProcess, FetchProcessDied
from meters.sync.speed.threads import Fetching, PausedGC, PreparedPages, prefetch
from meters.sync.speed.writer import PageWriter, threaded

__all__ = [
    "FetchProcess",
    "FetchProcessDied",
    "Fetching",
    "PageWriter",
    "PausedGC",
    "PreparedPages",
    "open_search",
    "prefetch",
    "threaded",
]


def open_search(
    client: LeapClient,
    stream: str,
    filters: MeterFilter | None,
    size: int,
    *,
    full: bool = False,
    after: Fetching | None = None,
) -> PreparedPages:
    """One search of `stream` ("details" or "enrollment"), its pages prepared for the planner.

    The full sync's searches (`full`) read every meter: they are fetched by a separate process
    when the client can be rebuilt in one (`FetchProcess`), else by `prefetch` threads with lazy
    pages (Leap builds a page while the last is validated). The incremental's and a webhook's
    few pages are fetched by `prefetch` threads. `after`: start fetching once that search has
    been fetched to its end. A full search is prepared with the stored hashes (`Known`).
    """
    known = Known(stored_hashes(stream)) if full else None
    if full and settings.METERS_SYNC_FETCH_PROCESS and client.portable_config() is not None:
        return FetchProcess(client, stream, filters, size, after=after, known=known)
    return prefetch(
        search_pages(client, stream, filters, size, lazy=full),
        after=after,
        prepare=PREPARE[stream],
        known=known,
    )
