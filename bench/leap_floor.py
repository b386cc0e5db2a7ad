"""The floor the meter sync is measured against: read a whole Leap portfolio and write nothing.

Starts the Leap simulator as a separate server process on loopback, then pages through and parses
every meter (POST /v2/meters/search) and every enrollment (POST /v2/meters/enrollments/search)
with the project's real client, 500 per page. Reports wall seconds, meters per second and the
client's memory: the peak of the Python heap (tracemalloc, optional because it slows parsing) and
the peak growth of the process RSS, sampled after every page. Neither may grow with the portfolio.

    python bench/leap_floor.py                       # 10,000 and 100,000 meters
    python bench/leap_floor.py --meters 100000 --tracemalloc

`measure_floor(meters, seed)` is importable, so the meter-sync bench can compare in the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from leap.client import LeapClient  # noqa: E402
from leap.simulator import DEFAULT_API_KEY  # noqa: E402


def _rss_bytes() -> int:
    """Resident set size of this process now (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class SimulatorProcess:
    """`python -m leap.simulator` in its own process, so its memory is not the client's."""

    def __init__(self, meters: int, seed: int, *extra: str, own_session: bool = False) -> None:
        """Start it with `meters` meters from `seed` (`extra`: more of its command line).

        `own_session`: in a session (so, on Linux, an autogroup) of its own, as bench/mixed_load.py
        starts every service, instead of sharing the caller's share of the cores.
        """
        self.process = subprocess.Popen(
            [sys.executable, "-m", "leap.simulator", "--meters", str(meters), "--seed", str(seed),
             "--port", "0", *extra],
            cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=own_session,
        )  # fmt: skip
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("URL "):
            self.close()
            raise RuntimeError(f"the simulator did not start: {line!r}")
        self.url = line.split()[1]

    def close(self) -> None:
        """Stop the server process."""
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def measure_floor(meters: int, seed: int, *, trace: bool = False) -> dict[str, Any]:
    """Seconds, meters/s and client memory to read `meters` meters and their enrollments."""
    with SimulatorProcess(meters, seed) as server:
        client = LeapClient(server.url, DEFAULT_API_KEY, timeout=60, max_retries=3)
        # Warm up (imports, pydantic's first validations, the connection) outside the measure,
        # so the RSS growth is what paging costs, not what the first request costs.
        next(iter(client.iter_enrollment_pages(page_size=10)))
        next(iter(client.iter_meter_pages(page_size=10)))
        rss_base = rss_peak = _rss_bytes()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        counts = {"meters": 0, "enrollments": 0, "pages": 0, "bad": 0}
        for kind, pages in (
            ("meters", client.iter_meter_pages(page_size=500)),
            ("enrollments", client.iter_enrollment_pages(page_size=500)),
        ):
            for page in pages:
                counts[kind] += len(page)
                counts["pages"] += 1
                counts["bad"] += len(page.failures)
                rss_peak = max(rss_peak, _rss_bytes())
        seconds = time.perf_counter() - started
        heap_peak = None
        if trace:
            heap_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    if counts["meters"] != meters or counts["enrollments"] != meters or counts["bad"]:
        raise RuntimeError(f"expected {meters} meters and enrollments, read {counts}")
    return {
        "meters": meters,
        "seed": seed,
        "seconds": round(seconds, 2),
        "meters_per_second": round(meters / seconds, 1),
        "pages": counts["pages"],
        "rss_growth_mb": round((rss_peak - rss_base) / 2**20, 1),
        "heap_peak_mb": None if heap_peak is None else round(heap_peak / 2**20, 1),
    }


def machine() -> str:
    """nproc, RAM and CPU model, for the record."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        ram_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        ram = f"{ram_kb / 2**20:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        ram = "unknown RAM"
    return f"{os.cpu_count()} CPUs (nproc), {ram}, {cpu}, Python {platform.python_version()}"


def main() -> None:
    """Run the floor for each size and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace the Python heap (slower)"
    )
    args = parser.parse_args()
    # A terminated bench still stops its simulator process (the with-block runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {machine()}; load average before: {os.getloadavg()[0]:.1f}\n")
    print(
        "| meters | seconds | meters/s | pages | client RSS growth (MB) | client heap peak (MB) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for size in args.meters:
        row = measure_floor(size, args.seed, trace=args.tracemalloc)
        heap = "-" if row["heap_peak_mb"] is None else row["heap_peak_mb"]
        print(
            f"| {row['meters']:,} | {row['seconds']} | {row['meters_per_second']:,} | {row['pages']} "
            f"| {row['rss_growth_mb']} | {heap} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
