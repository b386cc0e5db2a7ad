"""A newcomer's journey through what `make demo` builds, as each role, in headless Chromium.

Issue 12: the demo once answered 500 on the Groups page, every group page and every meter page
while the whole suite was green, because the suite never ran what a newcomer runs. This test does:
tests/journey/conftest.py starts the demo's processes, and each role (viewer, operator, admin)
logs in through the form and follows every link of the navigation and, from the pages they
lead to, every kind of link (meter, group, action, dispatch event, mapping, sync run, import,
audit, the Django admin's lists...), one or two of each kind. Every page must answer 2xx, or
403 where the role may not go; each page reloads from its address; the browser's console stays
free of errors; and at the end no process log (web, worker, simulator, seed) holds a server
error. The main pages are also opened at 390 px, where the page must not scroll sideways.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve

from leapportal import roles
from tests.conftest import save_screenshot
from tests.journey.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.worker]

# URL names a role may not open, by the permission their view checks: the intended 403.
NEEDS = {
    "mapping:import": roles.EDIT_MAPPING,
    "mapping:import_detail": roles.EDIT_MAPPING,
    "mapping:import_file": roles.EDIT_MAPPING,
    "mapping:edit": roles.EDIT_MAPPING,
}
# Links not followed: they act (log out) or are not pages of ours.
NOT_FOLLOWED = {"logout", "admin:logout"}
# Answers that are files, not pages: fetched (status checked), not opened in a tab.
FILES = re.compile(r"(\.csv|\.ics|/file)$")
# Of the Django admin, its index, app lists and every model's list (not each add/change form).
ADMIN_PAGES = re.compile(r"^admin:(index|app_list|\w+_changelist)$")
# How many links of one kind (URL name) each role follows: enough to catch a page that fails
# for one kind of row, few enough to keep the walk under a minute.
PER_KIND = 2
PHONE = {"width": 390, "height": 844}


def allowed(role: str, name: str) -> bool:
    """Whether the role may open pages of this URL name (the Django admin: admins only)."""
    if name.startswith("admin:"):
        return role == roles.ADMIN
    needed = NEEDS.get(name)
    return needed is None or needed in roles.ROLE_PERMISSIONS[role]


def url_name(url: str) -> str | None:
    """The namespaced URL name of one of our paths, or None when nothing resolves it."""
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return None
    return match.view_name


@dataclass
class Walk:
    """What one role met on its walk."""

    role: str
    visited: dict[str, list[str]] = field(default_factory=dict)  # URL name -> URLs opened
    pages: dict[str, list[str]] = field(default_factory=dict)  # ...of them, pages opened in the tab
    failures: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    overflow: dict[str, int] = field(default_factory=dict)


def _links(page) -> list[tuple[str, bool]]:
    """Every link and htmx GET of the page: (absolute URL, fragment?).

    An htmx GET is a fragment unless it pushes its URL into the address bar (hx-push-url="true"
    on it or inherited), which makes it a page that must also open and reload on its own.
    """
    return [
        (url, fragment)
        for url, fragment in page.eval_on_selector_all(
            "a[href], [hx-get]",
            """els => els.map(e => {
                const get = e.getAttribute('hx-get');
                if (!get) return [e.href, false];
                const push = e.closest('[hx-push-url]');
                const pushed = push && push.getAttribute('hx-push-url') === 'true';
                return [new URL(get, location.href).href, !pushed];
            })""",
        )
    ]


def _listen(page, walk: Walk) -> None:
    """Record console errors, uncaught exceptions and any 5xx answer to a request of the page."""
    page.on(
        "console",
        lambda msg: walk.console.append(f"{page.url}: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: walk.console.append(f"{page.url}: uncaught {exc}"))
    page.on(
        "response",
        lambda r: (
            walk.failures.append(f"{r.status} {r.request.method} {r.url}")
            if r.status >= 500
            else None
        ),
    )


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def walk_as(browser, base: str, role: str) -> Walk:
    """Log in as `role` and follow the navigation, then every kind of link found, breadth first."""
    walk = Walk(role)
    context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    _listen(page, walk)
    _login(page, base, role)
    nav = page.eval_on_selector_all("nav.mainnav a, .userbox a", "els => els.map(e => e.href)")
    assert len(nav) >= 6, nav
    queue = [(f"{base}/", False), *((link, False) for link in nav)]
    seen: set[tuple[str, bool]] = set()
    counts: Counter[tuple[str, bool]] = Counter()
    while queue:
        url, fragment = queue.pop(0)
        url = url.split("#")[0]
        if (url, fragment) in seen or not url.startswith(base):
            continue
        seen.add((url, fragment))
        name = url_name(url)
        if name is None or name in NOT_FOLLOWED or counts[name, fragment] >= PER_KIND:
            continue
        if name.startswith("admin:") and not ADMIN_PAGES.search(name):
            continue
        counts[name, fragment] += 1
        walk.visited.setdefault(name, []).append(url)
        expected = "2xx" if allowed(role, name) else "403"
        console_before = len(walk.console)
        if fragment:
            status = context.request.get(url, headers={"HX-Request": "true"}).status
        elif FILES.search(urlsplit(url).path):
            status = context.request.get(url, max_redirects=0).status
        else:
            response = page.goto(url)
            status = response.status if response else 0
        if expected == "403" and status == 403:  # Chromium reports the refusal as a console error
            walk.console[console_before:] = [
                c for c in walk.console[console_before:] if "status of 403" not in c
            ]
        if name.startswith("admin:") and role != roles.ADMIN:
            ok = status == 302 or (status == 200 and "/admin/login/" in page.url)
        elif expected == "403":
            ok = status == 403
        else:
            ok = 200 <= status < 300
        if not ok:
            kind = "fragment" if fragment else "page"
            walk.failures.append(f"{role}: {status} (expected {expected}) {kind} {name} {url}")
            continue
        if fragment or expected == "403" or FILES.search(urlsplit(url).path):
            continue
        walk.pages.setdefault(name, []).append(url)
        for link, is_fragment in _links(page):
            if "/admin/" not in link or "?" not in link:
                queue.append((urljoin(url, link), is_fragment))
        if name.startswith("admin:"):
            continue  # Django's own pages: answering is enough
        # htmx requests the page starts on load (lazy panels) finish before the reload.
        page.wait_for_function("() => !document.querySelector('.htmx-request')")
        reloaded = page.reload()
        if reloaded is None or not 200 <= reloaded.status < 300:
            walk.failures.append(f"{role}: reload answered {reloaded and reloaded.status} {url}")
    context.close()
    return walk


def open_the_work_panel(browser, base: str, role: str) -> list[str]:
    """On the action queue, open the first action's work panel by its button (htmx)."""
    problems: list[str] = []
    context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    walk = Walk(role)
    _listen(page, walk)
    _login(page, base, role)
    page.goto(f"{base}/actions/")
    row = page.locator("tbody[id^=action-]").first
    row_id = row.get_attribute("id")
    row.locator("text=Work").click()
    page.wait_for_selector(f"#{row_id} .work-panel")
    panel = page.locator(f"#{row_id}").inner_text()
    if "What to do" not in panel:
        problems.append(f"{role}: the work panel shows no guidance: {panel[:300]}")
    reloaded = page.reload()
    if reloaded is None or reloaded.status != 200:
        problems.append(f"{role}: reloading {page.url} after the work panel answered {reloaded}")
    context.close()
    return problems + walk.failures + walk.console


def start_a_sync_and_watch_it_finish(browser, base: str, role: str) -> list[str]:
    """Sync now on Sync health: the worker runs it while the page polls the run's progress."""
    context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    walk = Walk(role)
    _listen(page, walk)
    polled: list[tuple[int, str]] = []
    page.on(
        "response",
        lambda r: polled.append((r.status, r.url)) if "/meters/sync/runs/" in r.url else None,
    )
    _login(page, base, role)
    page.goto(f"{base}/meters/sync/")
    page.click("#sync-now")
    page.wait_for_selector("#sync-active .sync-progress")
    # The progress element loses its polling trigger once the worker finished the run.
    page.wait_for_selector("#sync-active .sync-progress:not([hx-get])", timeout=60_000)
    problems = [
        f"{role}: sync progress answered {status} {url}" for status, url in polled if status != 200
    ]
    text = page.locator("#sync-active").inner_text()
    if "done" not in text.lower():
        problems.append(f"{role}: the sync the worker ran did not finish done: {text[:300]}")
    if polled:  # the run's progress is a fragment (htmx polls it), asked for again here
        run_url = polled[-1][1]
        answer = context.request.get(run_url, headers={"HX-Request": "true"})
        if answer.status != 200 or "done" not in answer.text():
            problems.append(f"{role}: {run_url} answered {answer.status}: {answer.text()[:200]}")
    else:
        problems.append(f"{role}: the sync's progress was never polled")
    context.close()
    return problems + walk.failures + walk.console


def refused_to(browser, base: str, role: str, urls: dict[str, list[str]]) -> list[str]:
    """Open, as `role`, each URL of a kind the role may not use: each must be refused."""
    context = browser.new_context(base_url=base)
    page = context.new_page()
    _login(page, base, role)
    problems = []
    for name, found in urls.items():
        if allowed(role, name):
            continue
        for url in found:
            status = context.request.get(url, max_redirects=0).status
            refused = status == 403 or (name.startswith("admin:") and status == 302)
            if not refused:
                problems.append(f"{role}: {status} (expected a refusal) {name} {url}")
    context.close()
    return problems


def overflow_at_phone_width(browser, base: str, urls: list[str]) -> dict[str, int]:
    """URL names whose page (as the admin sees it) is wider than a 390 px phone, by how much.

    A screenshot of each is saved as test-artifacts/screenshots/journey-390-<name>.png.
    """
    context = browser.new_context(base_url=base, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    _login(page, base, roles.ADMIN)
    wide = {}
    for url in urls:
        page.goto(url)
        # clientWidth, not innerWidth: in mobile emulation the layout viewport (innerWidth) grows
        # to the content's width, so innerWidth never shows the overflow.
        width = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if width > 1:
            name = url_name(url) or url
            wide[name] = max(width, wide.get(name, 0))
            save_screenshot(page, f"journey-390-{name}", full_page=False)
    context.close()
    return wide


# Pages that scroll sideways at 390 px in the demo (by URL name); issue 16 made every main page
# fit, so none. This test fails when a page starts to overflow, and warns when a listed one stops.
KNOWN_WIDE_AT_PHONE: set[str] = set()


def test_each_role_follows_every_link_of_the_demo_without_a_server_error(demo_stack, browser):
    base = demo_stack.url
    walks = {role: walk_as(browser, base, role) for role in roles.ROLES}
    problems = [f for w in walks.values() for f in w.failures]
    problems += [f"console ({w.role}): {c}" for w in walks.values() for c in w.console]
    for role in (roles.OPERATOR, roles.ADMIN):
        problems += open_the_work_panel(browser, base, role)

    problems += start_a_sync_and_watch_it_finish(browser, base, roles.OPERATOR)
    admin_walk = walks[roles.ADMIN]
    for role in (roles.VIEWER, roles.OPERATOR):  # the intended 403s
        problems += refused_to(browser, base, role, admin_walk.visited)
    # Every kind of detail link was met and opened (the demo data has each kind).
    kinds = {
        "ops:groups", "meters:list", "ops:sync_health", "dispatch:timeline",
        "meters:detail", "ops:group", "ops:action", "dispatch:event", "mapping:meter",
        "mapping:import_detail", "mapping:audit", "admin:index",
    }  # fmt: skip
    missing = sorted(kinds - set(admin_walk.visited))
    assert not missing, f"the admin's walk never met these kinds of link: {missing}"
    main_pages = [
        urls[0] for name, urls in admin_walk.pages.items() if not name.startswith("admin:")
    ]
    wide = overflow_at_phone_width(browser, base, main_pages)
    problems += [
        f"390 px: {name} is {px}px wider than the screen"
        for name, px in wide.items()
        if name not in KNOWN_WIDE_AT_PHONE
    ]
    for name in sorted(KNOWN_WIDE_AT_PHONE & {url_name(u) for u in main_pages} - set(wide)):
        warnings.warn(
            f"390 px: {name} no longer overflows; take it off KNOWN_WIDE_AT_PHONE", stacklevel=1
        )
    problems += demo_stack.server_errors()
    assert not problems, "\n".join(problems)
