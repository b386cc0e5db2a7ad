"""`manage.py leap_simulator`: serve a local Leap over HTTP for the demo and benchmarks."""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from leap.simulator import DEFAULT_API_KEY, Simulator
from leap.simulator.server import SimulatorServer


def _shown_key(key: str, public_key: str) -> str:
    """The simulator's public test key in full; any other key (a real one?) only by its start."""
    return key if key == public_key else f"{key[:4]}… (from LEAP_API_KEY / --api-key, not shown)"


class Command(BaseCommand):
    """Serve the Leap simulator until Ctrl-C, on the wall clock, sending webhooks as they fall due."""

    help = "Serve a simulated Leap partner API (meters, enrollments, dispatch, webhooks)."

    def add_arguments(self, parser: Any) -> None:
        """Command-line options."""
        parser.add_argument("--meters", type=int, default=settings.LEAP_SIMULATOR_METERS)
        parser.add_argument("--seed", type=int, default=settings.LEAP_SIMULATOR_SEED)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--api-key", default=settings.LEAP_API_KEY or None)
        parser.add_argument(
            "--admin-token",
            default=os.environ.get("LEAP_SIMULATOR_ADMIN_TOKEN"),
            help="token for the /_sim/ admin endpoints (default: a random one, printed)",
        )
        parser.add_argument(
            "--retry-scale",
            type=float,
            default=1.0,
            help="multiplies Leap's webhook retry waits (1/60 turns minutes into seconds)",
        )
        parser.add_argument("--changes-per-hour", type=float, default=2.0)
        parser.add_argument("--verbose-requests", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        """Build the portfolio, serve it, print how to reach it."""
        if not (settings.DEBUG or settings.TESTING) or not settings.LEAP_SIMULATOR:
            # A production process holds the real LEAP_API_KEY and the real webhook secrets; a
            # stand-in Leap has no business there (and must not print them).
            raise CommandError(
                "manage.py leap_simulator is for development only: it needs DEBUG=true and "
                "LEAP_SIMULATOR=true (this process is configured for the real Leap)"
            )
        if not 1 <= options["meters"] <= 200_000:
            raise CommandError("--meters must be from 1 to 200000")
        if options["retry_scale"] < 0:
            raise CommandError("--retry-scale must not be negative")
        started = time.perf_counter()
        sim = Simulator(
            seed=options["seed"],
            meters=options["meters"],
            api_key=options["api_key"] or DEFAULT_API_KEY,
            admin_token=options["admin_token"] or secrets.token_urlsafe(24),
            realtime=True,
            retry_scale=options["retry_scale"],
            changes_per_hour=options["changes_per_hour"],
        )
        try:
            server = SimulatorServer(
                sim, options["host"], options["port"], verbose=options["verbose_requests"]
            )
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc
        server.start_delivery_loop()
        self.stdout.write(
            f"Leap simulator: {options['meters']} meters, seed {options['seed']}, "
            f"ready in {time.perf_counter() - started:.1f} s\n"
            f"  URL:         {server.url}\n"
            f"  API key:     {_shown_key(sim.api_key, DEFAULT_API_KEY)}\n"
            f"  admin token: {sim.admin_token}   (Authorization: Bearer … on /_sim/…)\n"
            f'  admin API:   GET /_sim/state, POST /_sim/advance {{"minutes": 60}}, '
            "POST /_sim/dispatches, POST /_sim/faults, ...\n"
            "Ctrl-C to stop."
        )
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("stopping")
        finally:
            server.stop()
