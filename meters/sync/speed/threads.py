"""Background threads that read a search ahead of the planner, and the paused collector."""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from leap.client import Page
from leap.client.pages import RawPage
from meters.sync.known import Known
from meters.sync.searches import prepared
from meters.sync.snapshot import Prepared

T = TypeVar("T")


class Fetching(Protocol):
    """A search being read in the background: `fetched` is set once it has been read to its end."""

    fetched: threading.Event


class PreparedPages(Protocol):
    """An opened search: its prepared pages in order; `close()` stops reading it."""

    fetched: threading.Event

    def __iter__(self) -> Iterator[Page[Prepared]]: ...

    def __next__(self) -> Page[Prepared]: ...

    def close(self) -> None: ...


class Stream(Iterator[T]):
    """What both ways of reading a search share: a queue of ("page" | "end" | "error", value)
    filled by background threads, read in order by the caller; `close()` is theirs."""

    def __init__(self, depth: int) -> None:
        self.fetched = threading.Event()  # the whole search has been fetched (or failed)
        self._slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False

    def _put(self, item: tuple[str, Any], into: queue.Queue | None = None) -> bool:
        """Queue an item unless the stream is closed meanwhile (False then)."""
        into = self._slots if into is None else into
        while not self._stop.is_set():
            try:
                into.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Stream[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        kind, value = self._slots.get()
        if kind == "page":
            return value
        self.close()
        if kind == "end":
            raise StopIteration
        raise value

    def close(self) -> None:
        """Stop reading the search (pages not yet taken are dropped)."""
        raise NotImplementedError


class prefetch(Stream[T]):  # noqa: N801 - used like the generator function it replaced
    """Iterate `pages` in background threads, `depth` ahead, so fetching overlaps writing.

    Two threads: one fetches (the HTTP client), one validates and, given `prepare`, prepares
    each object. A search made with `lazy=True` yields RawPage objects: the fetcher then asks
    Leap for the next page while the validator checks this one (Leap builds a page while we
    validate the last; the floor of bench/leap_floor.py does one after the other).

    The threads start at once: a stream created before the one being written is fetched
    meanwhile (a search chained with `after` is fetched once the one before has been read to
    its end). With `known` (a full search), lazy pages are prepared by `Known.prepare_page`:
    an object Leap sends unchanged is not validated. No database call runs in them. An
    exception in either is raised in the caller at the point it was reached. `close()` stops
    them.
    """

    def __init__(
        self,
        pages: Iterable[T],
        depth: int = 2,
        *,
        after: Fetching | None = None,
        prepare: Callable[[Any], Any] | None = None,
        known: Known | None = None,
    ) -> None:
        super().__init__(depth)
        self._after = after
        self._prepare = prepare
        self._known = known
        self._raw: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
        self._pages = pages
        self._threads = [
            threading.Thread(target=self._fetch, name="leap-prefetch", daemon=True),
            threading.Thread(target=self._validate, name="leap-validate", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _fetch(self) -> None:
        try:
            # Chained after another search: Leap is asked for one search at a time.
            while self._after is not None and not self._after.fetched.wait(0.2):
                if self._stop.is_set():
                    return
            for page in self._pages:
                if not self._put(("page", page), self._raw):
                    return
            self._put(("end", None), self._raw)
        except BaseException as exc:  # handed over to the caller's thread
            self._put(("error", exc), self._raw)
        finally:
            self.fetched.set()

    def _validate(self) -> None:
        while not self._stop.is_set():
            try:
                kind, value = self._raw.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "page":
                try:
                    if self._known and self._prepare and isinstance(value, RawPage):
                        value = self._known.prepare_page(value, self._prepare)
                    else:
                        if hasattr(value, "validate"):
                            value = value.validate()
                        if self._prepare is not None:
                            value = prepared(value, self._prepare)
                except BaseException as exc:  # handed over to the caller's thread
                    kind, value = "error", exc
            if not self._put((kind, value)) or kind != "page":
                return

    def close(self) -> None:
        """Stop fetching (pages not yet taken are dropped)."""
        self._done = True
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)


class PausedGC:
    """The cyclic garbage collector paused during a long bulk job, and run every `every` pages.

    Measured (bench/sync.py): with the collector on, unpickling a page of 500 prepared
    enrollments took 65 us an object, 19 us with it off, and validating took a third longer.
    Each page allocates tens of thousands of objects that live until the page is written, so
    the collector kept re-scanning them. While paused, the objects the process had before (Django,
    modules) are frozen out of every collection, and a collection every `every` pages keeps any
    cyclic garbage bounded: memory stays flat however large the portfolio. Restores the
    collector's previous state on exit; `page()` is called by one thread.
    """

    def __init__(self, every: int = 40) -> None:
        self.every = every
        self._pages = 0
        self._was_enabled = False

    def __enter__(self) -> PausedGC:
        self._was_enabled = gc.isenabled()
        gc.disable()
        gc.freeze()
        return self

    def page(self) -> None:
        """One page done: collect every `every` pages."""
        self._pages += 1
        if self._pages % self.every == 0:
            gc.collect()

    def __exit__(self, *exc: object) -> None:
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()
