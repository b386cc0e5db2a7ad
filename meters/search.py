"""Leap's meter searches as streams of pages prepared for the writer.

Two ways to read a search, with the same interface (an iterator of `Page[Prepared]` with
`fetched` and `close()`):

- `prefetch`: threads of this process fetch, validate and prepare pages ahead of the writer.
- `FetchProcess`: a separate Python process does the same and sends the prepared pages over a
  pipe. The full sync's long searches use it when the client can be rebuilt in another process
  (settings.METERS_SYNC_FETCH_PROCESS): validating and flattening Leap's objects is about half of
  the sync's Python time (bench/sync.py), and in a thread it holds the interpreter lock the
  planner and the page writers need. In its own process it runs on the other core.

Either way a page's objects that do not validate travel with it (`page.failures`), an error is
raised in the reader at the point it was reached, and the client's counters (requests,
retries, failures) end up on the caller's client.
"""

from __future__ import annotations

import copyreg
import gc
import io
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from uuid import UUID, SafeUUID

from django.conf import settings

from leap.client import ClientStats, LeapClient, Page
from leap.schemas import MeterFilter
from meters.snapshot import Prepared, prepare_details, prepare_enrollment

logger = logging.getLogger(__name__)
T = TypeVar("T")

# How each stream's objects are prepared for the writer.
PREPARE: dict[str, Callable[[Any], Prepared]] = {
    "details": prepare_details,
    "enrollment": prepare_enrollment,
}


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


def _uuid(value: int, _new: Any = object.__new__, _set: Any = object.__setattr__) -> UUID:
    """A UUID from its integer, for unpickling (UUID.__setstate__ builds an enum per call)."""
    uuid_ = _new(UUID)
    _set(uuid_, "int", value)
    _set(uuid_, "is_safe", SafeUUID.unknown)
    return uuid_


_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[UUID] = lambda value: (_uuid, (value.int,))


def _dumps(message: tuple) -> bytes:
    """Pickle one message for the pipe (UUIDs by their integer)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(message)
    return buffer.getvalue()


def _prepared(page: Any, prepare: Callable[[Any], Any]) -> Page[Any]:
    """A page of validated objects, each prepared; the failures and paging travel along."""
    result: Page[Any] = Page(
        [prepare(item) for item in page],
        failures=list(getattr(page, "failures", [])),
        number=getattr(page, "number", 1),
        next_page_token=getattr(page, "next_page_token", None),
    )
    return result


class _Stream(Iterator[T]):
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

    def __iter__(self) -> _Stream[T]:
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


class prefetch(_Stream[T]):  # noqa: N801 - used like the generator function it replaced
    """Iterate `pages` in background threads, `depth` ahead, so fetching overlaps writing.

    Two threads: one fetches (the HTTP client), one validates and, given `prepare`, prepares
    each object. A search made with `lazy=True` yields RawPage objects: the fetcher then asks
    Leap for the next page while the validator checks this one (Leap builds a page while we
    validate the last; the floor of bench/leap_floor.py does one after the other).

    The threads start at once: a stream created before the one being written is fetched
    meanwhile (a search chained with `after` is fetched once the one before has been read to
    its end). No database call runs in them. An exception in either is raised in the caller at
    the point it was reached. `close()` stops them.
    """

    def __init__(
        self,
        pages: Iterable[T],
        depth: int = 2,
        *,
        after: Any = None,
        prepare: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(depth)
        self._after = after
        self._prepare = prepare
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
                    if hasattr(value, "validate"):
                        value = value.validate()
                    if self._prepare is not None:
                        value = _prepared(value, self._prepare)
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


def search_pages(
    client: LeapClient, stream: str, filters: MeterFilter | None, page_size: int, **kw: Any
) -> Any:
    """The client's search of one stream ("details" or "enrollment")."""
    if stream == "details":
        return client.iter_meter_pages(filters, page_size, **kw)
    if stream == "enrollment":
        return client.iter_enrollment_pages(filters, page_size, **kw)
    raise ValueError(f"unknown stream {stream!r}")


class FetchProcessDied(RuntimeError):
    """The fetch process ended without finishing its search (killed, out of memory...)."""


class FetchProcess(_Stream[Page[Prepared]]):
    """One search fetched, validated and prepared by `python -m meters.search_process`.

    The child gets the client's settings (`LeapClient.portable_config()`), the stream, the
    filters and the page size as a pickle on its standard input, and answers with one pickle per
    message on its standard output: ("page", items, failures, number, next_page_token), then
    ("end", counters) or ("error", exception, counters). A reader thread here unpickles them
    `depth` ahead; when the reader lags, the pipe fills and the child waits, so memory stays flat.
    The job is sent (and the child starts fetching) only once `after`, if given, has fetched
    its whole search: Leap is asked for one search at a time, while the child's start-up
    overlaps the search before. `close()` kills a child still running.
    """

    command: ClassVar[list[str]] = [sys.executable, "-m", "meters.search_process"]

    def __init__(
        self,
        client: LeapClient,
        stream: str,
        filters: MeterFilter | None,
        page_size: int,
        *,
        depth: int = 2,
        after: Any = None,
    ) -> None:
        config = client.portable_config()
        if config is None:
            raise ValueError(f"{client!r} cannot be rebuilt in another process")
        if stream not in PREPARE:
            raise ValueError(f"unknown stream {stream!r}")
        super().__init__(depth)
        self.stream = stream
        self._stats = client.stats
        self._after = after
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # The child loads the settings this process loaded (it reads only the models' column
        # lengths and the logging setup from them); under pytest they know they are tests from
        # sys.modules, which the child has not.
        module = env.get("DJANGO_SETTINGS_MODULE") or getattr(settings, "SETTINGS_MODULE", None)
        if module:
            env["DJANGO_SETTINGS_MODULE"] = module
        if getattr(settings, "TESTING", False):
            env["LEAPPORTAL_TESTING"] = "true"
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=root,
            env=env,
        )
        self._job = pickle.dumps(
            {"config": config, "stream": stream, "filters": filters, "page_size": page_size}
        )
        self._thread = threading.Thread(target=self._read, name=f"leap-fetch-{stream}", daemon=True)
        self._thread.start()

    def _send_job(self) -> bool:
        while self._after is not None and not self._after.fetched.wait(0.2):
            if self._stop.is_set():
                return False
        stdin = self._process.stdin
        assert stdin is not None  # noqa: S101 - created with stdin=PIPE
        try:
            stdin.write(self._job)
            stdin.close()
        except OSError:
            return True  # the child is gone: reading says why
        return True

    def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None  # noqa: S101 - created with stdout=PIPE
        finished = False
        try:
            if not self._send_job():
                return
            while not self._stop.is_set():
                try:
                    message = pickle.load(stdout)  # noqa: S301 - our own child's output
                except (EOFError, pickle.UnpicklingError):
                    break  # the end of the pipe, or half a message: the child died writing it
                kind = message[0]
                if kind == "page":
                    _, items, failures, number, token = message
                    page: Page[Prepared] = Page(
                        items, failures=failures, number=number, next_page_token=token
                    )
                    if not self._put(("page", page)):
                        return
                    continue
                self._stats.merge(message[-1])
                finished = True
                self.fetched.set()
                self._put(("end", None) if kind == "end" else ("error", message[1]))
                return
            if not self._stop.is_set():
                if self._process.poll() is None:
                    self._process.kill()  # alive but its output is garbled: nothing to wait for
                code = self._process.wait()
                self._put(
                    (
                        "error",
                        FetchProcessDied(
                            f"the process fetching Leap's {self.stream} search exited with "
                            f"code {code} before the end of the search"
                        ),
                    )
                )
        except BaseException as exc:  # handed over to the caller's thread
            if not self._stop.is_set():
                self._put(("error", exc))
        finally:
            if not finished:
                self.fetched.set()

    def close(self) -> None:
        """Stop the child (pages not yet taken are dropped) and wait for it."""
        self._done = True
        self._stop.set()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._thread.join(timeout=5)
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


def child_main(out: Any) -> None:
    """The fetch process, once Django is set up: read the job, search, send prepared pages.

    Run by `python -m meters.search_process` (see FetchProcess); `out` is its private copy of
    standard output.
    """
    job = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by our parent
    stats = ClientStats()

    def send(message: tuple) -> None:
        # Pickled whole before anything is written: a message that fails to pickle must not
        # leave half a message in the pipe.
        out.write(_dumps(message))
        out.flush()

    stream = job["stream"]
    try:
        with LeapClient(**job["config"], stats=stats) as client, PausedGC() as paused:
            pages = prefetch(
                search_pages(client, stream, job["filters"], job["page_size"], lazy=True),
                prepare=PREPARE[stream],
            )
            try:
                for page in pages:
                    send(("page", list(page), page.failures, page.number, page.next_page_token))
                    paused.page()
            finally:
                pages.close()
        send(("end", stats.counters()))
    except BrokenPipeError:
        return  # the parent stopped reading (closed, or died): nothing to say
    except BaseException as exc:
        try:
            try:
                send(("error", exc, stats.counters()))
            except (pickle.PicklingError, TypeError, AttributeError):
                # An exception that does not pickle: its text still does.
                send(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), stats.counters()))
        except BrokenPipeError:
            return
