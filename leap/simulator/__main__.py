"""`python -m leap.simulator --meters N --seed S --port P`: serve without Django (benchmarks).

The demo uses `manage.py leap_simulator`, which takes its defaults from the settings.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from . import DEFAULT_ADMIN_TOKEN, DEFAULT_API_KEY, Simulator
from .server import SimulatorServer


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m leap.simulator")
    parser.add_argument("--meters", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--admin-token", default=DEFAULT_ADMIN_TOKEN)
    parser.add_argument(
        "--revenue-history",
        choices=("created", "full"),
        default="created",
        help="revenue rows from each meter's creation (default) or for every month (benchmarks)",
    )
    parser.add_argument(
        "--now", default=None, help="start the clock here (ISO 8601 with offset); default: now"
    )
    args = parser.parse_args(argv)
    now = datetime.fromisoformat(args.now) if args.now else None
    sim = Simulator(
        seed=args.seed,
        meters=args.meters,
        api_key=args.api_key,
        admin_token=args.admin_token,
        realtime=True,
        now=now,
        revenue_history=args.revenue_history,
    )
    server = SimulatorServer(sim, args.host, args.port)
    server.start_delivery_loop()
    print(f"URL {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
