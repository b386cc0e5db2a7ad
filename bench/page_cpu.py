"""CPU per request of the dashboard's pages, with production settings (issue 15).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/lp_bench_pages \
        .venv/bin/python bench/page_cpu.py [--runs 20] [--page NAME] [--profile]

Reads a database bench/pages.py filled (its user `bench-operator`, ten saved views) and requests
each page through Django's test client with DEBUG off (as gunicorn runs in bench/mixed_load.py),
timing time.process_time() around each request: the CPU of this process, the part of a page
that ten people browsing on two cores compete for. Prints per page the median and lowest CPU ms,
the queries and the response size. --page NAME --profile adds cProfile's top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.update(
    DJANGO_SETTINGS_MODULE="leapportal.settings",
    DEBUG="false",
    SECRET_KEY="bench-" + "k" * 60,
    ALLOWED_HOSTS="testserver",
    SECURE_SSL_REDIRECT="false",
    SECURE_COOKIES="false",
    LOG_LEVEL="WARNING",
    LEAP_SIMULATOR="true",
    LEAP_DISPATCH_WEBHOOK_SECRETS="bench-dispatch-secret-000000000001",
    LEAP_METER_WEBHOOK_SECRETS="bench-meter-secret-0000000000001",
    CELERY_TASK_ALWAYS_EAGER="false",
)


def pages() -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    """(name, path, query, headers) of each page measured."""
    from dispatch.models import DispatchTimeslot
    from meters.models import MarketGroup, Meter, RequiredAction

    group = MarketGroup.objects.order_by("name").first()
    action = RequiredAction.objects.filter(side="partner").order_by("deadline").first()
    meter = Meter.objects.order_by("partner_reference").values_list("pk", flat=True)[1000]
    slot = DispatchTimeslot.objects.order_by("pk").values_list("event_id", flat=True).first()
    assert group is not None and action is not None, "fill the database with bench/pages.py"
    htmx = {"HX-Request": "true"}
    # The pages bench/mixed_load.py's users browse first, then the console's variants.
    return [
        ("overview", "/", {}, {}),
        ("meters", "/meters/", {}, {}),
        ("meters page 40", "/meters/", {"page": "40"}, {}),
        ("meters search", "/meters/", {"q": "orchard"}, {}),
        ("meters region sorted", "/meters/", {"region": "CAISO", "sort": "-updated"}, {}),
        ("meter page", f"/meters/{meter}/", {}, {}),
        ("dispatch week", "/dispatch/", {}, {}),
        ("dispatch day by meter", "/dispatch/", {"view": "day", "by": "meter"}, {}),
        ("dispatch event", f"/dispatch/events/{slot}/", {}, {}),
        ("sync health", "/meters/sync/", {}, {}),
        ("actions", "/actions/", {}, {}),
        ("actions by code", "/actions/", {"group": "code"}, {}),
        ("actions leap lane", "/actions/", {"side": "leap"}, {}),
        ("actions of a group", "/actions/", {"market_group": str(group.pk)}, {}),
        ("actions (htmx)", "/actions/", {"code": "AUTH_0001"}, htmx),
        ("action page", f"/actions/{action.pk}/", {}, {}),
        ("action work panel", f"/actions/{action.pk}/", {}, htmx),
        ("groups", "/groups/", {}, {}),
        ("group day 1", f"/groups/{group.pk}/", {"day": "1"}, {}),
        ("my settings", "/me/", {}, {}),
    ]


def measure(client: Any, page: tuple[Any, ...], runs: int, profile: Any) -> str:
    """One table row: CPU ms median and lowest over `runs` (after two warm-ups), queries, bytes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    name, path, params, headers = page
    for _ in range(2):
        assert client.get(path, params, headers=headers).status_code == 200, name
    cpu = []
    for _ in range(runs):
        if profile:
            profile.enable()
        began = time.process_time()
        client.get(path, params, headers=headers)
        cpu.append((time.process_time() - began) * 1000)
        if profile:
            profile.disable()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params, headers=headers)
    return (
        f"| {name} | {statistics.median(cpu):.1f} | {min(cpu):.1f} | {len(queries)} "
        f"| {len(response.content):,} |"
    )


def main() -> None:
    """Measure every page (or one), print the table (and the profile)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--page", default="", help="only the page of this name")
    parser.add_argument("--profile", action="store_true", help="cProfile the page (with --page)")
    args = parser.parse_args()
    from bench.database import bench_database

    # Reads what bench/pages.py filled (its default database): not wiped, so not refused by name.
    bench_database("lp_bench_pages", wiped=False)
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    call_command("collectstatic", interactive=False, verbosity=0)  # the manifest DEBUG off needs
    client = Client()
    client.force_login(User.objects.get(username="bench-operator"))
    profile = cProfile.Profile(time.process_time) if args.profile and args.page else None
    print(
        "| page | CPU ms p50 | CPU ms min | queries | bytes |\n| --- | ---: | ---: | ---: | ---: |"
    )
    for page in pages():
        if not args.page or page[0] == args.page:
            print(measure(client, page, args.runs, profile))
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(50)


if __name__ == "__main__":
    main()
