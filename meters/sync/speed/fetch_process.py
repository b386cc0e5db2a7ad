"""The full sync's fetch process: a search fetched, validated and prepared in another Python
process, its pages sent back over a pipe as pickles.

Part of the sync's speed machinery (meters/sync/speed/), whose `open_search` decides when a
search is read this way; nothing else knows about the child. The child is
`python -m meters.sync.child`, which sets Django up and calls `child_main`.
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, ClassVar
from uuid import UUID, SafeUUID

from django.conf import settings

from leap.client import ClientStats, LeapClient, Page
from leap.schemas import MeterFilter
from meters.sync.known import Known
from meters.sync.searches import PREPARE, search_pages
from meters.sync.snapshot import Prepared
from meters.sync.speed.threads import Fetching, PausedGC, Stream, prefetch


class FetchProcessDied(RuntimeError):
    """The fetch process ended without finishing its search (killed, out of memory...)."""


class FetchProcess(Stream[Page[Prepared]]):
    """One search fetched, validated and prepared by `python -m meters.sync.child`.

    The child gets the client's settings (`LeapClient.portable_config()`), the stream, the
    filters, the page size and the stored hashes (`known`, see meters/sync/known.py) as a
    pickle on its standard input, and answers with one pickle per
    message on its standard output: ("page", items, failures, number, next_page_token), then
    ("end", counters) or ("error", exception, counters). A reader thread here unpickles them
    `depth` ahead; when the reader lags, the pipe fills and the child waits, so memory stays flat.
    The job is sent (and the child starts fetching) only once `after`, if given, has fetched
    its whole search: Leap is asked for one search at a time, while the child's start-up
    overlaps the search before. `close()` kills a child still running.
    """

    command: ClassVar[list[str]] = [sys.executable, "-m", "meters.sync.child"]

    def __init__(
        self,
        client: LeapClient,
        stream: str,
        filters: MeterFilter | None,
        page_size: int,
        *,
        depth: int = 2,
        after: Fetching | None = None,
        known: Known | None = None,
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
        root = str(Path(__file__).resolve().parents[3])  # the repository
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
            {
                "config": config,
                "stream": stream,
                "filters": filters,
                "page_size": page_size,
                "known": known,
            }
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
        finally:
            self._job = b""  # megabytes with the stored hashes: not kept for the whole search
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


def child_main(out: IO[bytes]) -> None:
    """The fetch process, once Django is set up: read the job, search, send prepared pages.

    Run by `python -m meters.sync.child` (see FetchProcess); `out` is its private copy of
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
                known=job.get("known"),
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
