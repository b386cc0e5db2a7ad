"""The clients of bench/mixed_load.py: people browsing the pages, and Leap posting notifications.

Each is a set of threads with its own keep-alive connections to gunicorn; `stop()`/`join()` give
back what every request answered and how long it took.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.webhook_load import _Client, iso, percentile

SECRET = "bench-dispatch-secret-000000000001"
HEADERS = {"x-leapportal-secret": SECRET, "content-type": "application/json"}


def think_range(text: str) -> tuple[float, float]:
    """--think's "MIN,MAX" (or one value) in seconds."""
    low, _, high = text.partition(",")
    try:
        pair = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError("MIN,MAX in seconds, e.g. 2,8") from None
    if not 0 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError("need 0 <= MIN <= MAX")
    return pair


# --- the three loads -----------------------------------------------------------------------------


class Browsing:
    """`users` threads, each with its own session and keep-alive connection, page after page,
    reading each page for `think` seconds (uniform between the two) before the next click."""

    def __init__(
        self, port: int, cookie: str, pages: list[str], users: int, think: tuple[float, float]
    ) -> None:
        self.port, self.cookie, self.pages, self.users = port, cookie, pages, users
        self.think = think
        self.samples: list[tuple[str, float, int]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _user(self, n: int) -> None:
        client = _Client(self.port, timeout=60)
        order = self.pages[n % len(self.pages) :] + self.pages[: n % len(self.pages)]
        # People do not all click at the same instant: ten first clicks at once on a 2-core
        # machine took ~3 s each, a tenth of a 90 s part's pages at a person's pace.
        self._stop.wait(random.uniform(0, self.think[1]))
        for path in itertools.cycle(order):
            if self._stop.is_set():
                break
            started = time.perf_counter()
            try:
                # gunicorn closes a connection idle for 2 s: the client opens it again.
                status, _ = client.request("GET", path, None, {"Cookie": self.cookie})
            except (OSError, http.client.HTTPException):
                status = 0
            self.samples.append((path, time.perf_counter() - started, status))
            time.sleep(random.uniform(*self.think))  # a person reads the page before the next click
        client.close()

    def warm_up(self) -> Browsing:
        """Every page once per user, the users at once: servers in production are warm, and each
        gunicorn worker's first requests load code, templates and connections (one at a time,
        they all went to the same worker)."""

        def pages() -> None:
            client = _Client(self.port, timeout=60)
            for path in self.pages:
                client.request("GET", path, None, {"Cookie": self.cookie})
            client.close()

        threads = [threading.Thread(target=pages) for _ in range(self.users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self

    def start(self) -> Browsing:
        self._threads = [threading.Thread(target=self._user, args=(n,), daemon=True)
                         for n in range(self.users)]  # fmt: skip
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=90)
        times = [s[1] * 1000 for s in self.samples if s[2] == 200]
        return {
            "pages served": len(self.samples),
            "non-200": sum(1 for s in self.samples if s[2] != 200),
            "answers": dict(Counter(s[2] for s in self.samples)),
            "page p50 (ms)": round(percentile(times, 50), 1),
            "page p95 (ms)": round(percentile(times, 95), 1),
            "page max (ms)": round(max(times), 1) if times else None,
            "slowest pages (p95 ms)": dict(
                sorted(
                    (
                        (
                            path,
                            round(
                                percentile(
                                    [
                                        t * 1000
                                        for p, t, s in self.samples
                                        if p == path and s == 200
                                    ],
                                    95,
                                ),
                                1,
                            ),
                        )
                        for path in self.pages
                    ),
                    key=lambda item: -item[1] if item[1] == item[1] else 0,
                )[:4]
            ),  # fmt: skip
        }


class Dispatching:
    """Notifications posted at a steady rate (or as fast as accepted) by sender threads."""

    def __init__(self, port: int, bodies: list[bytes], threads: int, rate: float | None) -> None:
        self.port, self.bodies, self.rate = port, bodies, rate
        self.threads = threads
        self.results: list = [None] * len(bodies)
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.t0 = 0.0
        self.sent = 0

    def _work(self, counter) -> None:
        client = _Client(self.port)
        while not self._stop.is_set() and (i := next(counter)) < len(self.bodies):
            if self.rate:
                wait = self.t0 + i / self.rate - time.perf_counter()
                if wait > 0:  # read the clock once: it moves between two reads
                    time.sleep(wait)
            started = time.perf_counter()
            try:
                status, body = client.post("/dispatch/webhooks/meter", self.bodies[i], HEADERS)
                delivery = json.loads(body).get("delivery_id") if status == 202 else None
            except (OSError, http.client.HTTPException) as exc:
                status, delivery = f"error: {exc}", None
            # The 4th: when it was sent (s after the start), for the rate Leap really achieved.
            self.results[i] = (status, time.perf_counter() - started, delivery, started - self.t0)
        client.close()

    def start(self) -> Dispatching:
        counter = itertools.count()
        self.t0 = time.perf_counter()
        self._workers = [threading.Thread(target=self._work, args=(counter,), daemon=True)
                         for _ in range(self.threads)]  # fmt: skip
        for t in self._workers:
            t.start()
        return self

    def stop(self) -> list:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=120)
        return [r for r in self.results if r is not None]

    def join(self) -> list:
        for t in self._workers:
            t.join()
        return [r for r in self.results if r is not None]


def burst_bodies(meters: list[str], n: int, per: int, seed: int) -> list[bytes]:
    """The burst's notifications: `n` of `per` meters each, one new hour-long timeslot a meter."""
    rng = random.Random(seed)
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=4)
    bodies = []
    for _ in range(n):
        start = base + timedelta(minutes=15 * rng.randrange(0, 96))
        dispatches = [
            {"meter_id": m, "partner_reference": f"ref-{m[:8]}", "timeslots": [{
                "meter_event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "start_time": iso(start), "end_time": iso(start + timedelta(hours=1)),
                "cancelled": False, "energy_kw": 10.0, "nomination_kw": 20.0,
                "performance_compensation_cap": "up-to-site-load", "priority": 2,
                "is_voluntary": False, "dispatch_event_types": ["day-ahead"], "programs": ["CCA"],
            }]}
            for m in rng.sample(meters, per)
        ]  # fmt: skip
        bodies.append(json.dumps({"integration_test_notification": False,
                                  "communication_test": False,
                                  "meter_dispatches": dispatches}).encode())  # fmt: skip
    return bodies
