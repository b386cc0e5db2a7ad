"""Every URL pattern of the project as a concrete path, discovered from the resolver.

Path converters and regex groups are filled with sample values, so patterns that other apps add
later are walked too. A pattern that cannot be filled fails loudly (add a sample to SAMPLES).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

# Candidates tried in order; the first one the converter or group accepts is used.
SAMPLES: list[Any] = [
    1,
    UUID("00000000-0000-4000-8000-000000000001"),
    "sample",
    "2026-03-08",
    "sample/path",
]


@dataclass(frozen=True)
class Route:
    """One URL pattern, with a concrete path that resolves to it."""

    path: str
    name: str  # "namespace:name", or the pattern text when unnamed
    callback: Any

    @property
    def login_required(self) -> bool:
        """False when the view is marked login_not_required (public)."""
        view = getattr(self.callback, "view_class", None) or self.callback
        return getattr(self.callback, "login_required", getattr(view, "login_required", True))


class UnfillablePattern(Exception):
    """No sample value fits a converter or group of this pattern."""


def _fill_route(route: str, converters: dict[str, Any]) -> str:
    """A path for a route pattern: each <converter:name> replaced by a fitting sample."""

    def fill(match: re.Match[str]) -> str:
        """The first sample the converter accepts and turns back into a value."""
        name = match.group("name")
        converter = converters[name]
        for sample in SAMPLES:
            try:
                text = str(converter.to_url(sample))
                if re.fullmatch(converter.regex, text):
                    converter.to_python(text)
                    return text
            except (ValueError, TypeError, AttributeError):
                continue
        raise UnfillablePattern(f"no sample in SAMPLES fits <{match.group(0)}> in {route!r}")

    return re.sub(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>", fill, route)


def _fill_regex(regex: str) -> str:
    """A path for a regex pattern: each named group replaced by a matching sample."""
    pattern = regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")

    def fill(match: re.Match[str]) -> str:
        """An alternative of the group, or a sample, that the group matches in full."""
        body = match.group("body")
        options = [*body.split("|"), *map(str, SAMPLES)] if "|" in body else map(str, SAMPLES)
        for option in options:
            if re.fullmatch(body, option):
                return option
        raise UnfillablePattern(f"no sample fits the group ({body}) in {regex!r}")

    filled = re.sub(r"\(\?P<\w+>(?P<body>[^()]*)\)", fill, pattern)
    if re.search(r"[\\()\[\]*+?{}|^$]", filled):
        raise UnfillablePattern(f"cannot make a path from the regex {regex!r}")
    return filled


def _fill(pattern: Any) -> str:
    """A concrete path for one route or regex pattern."""
    if isinstance(pattern, RoutePattern):
        return _fill_route(str(pattern), pattern.converters)
    if isinstance(pattern, RegexPattern):
        return _fill_regex(str(pattern))
    raise UnfillablePattern(f"unknown pattern type {type(pattern).__name__}")


def walk(
    patterns: list[Any] | None = None, prefix: str = "/", namespace: str = ""
) -> Iterator[Route]:
    """Yield a Route for every URLPattern under `patterns` (default: the project's root URLconf)."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry.url_patterns, prefix + _fill(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else f"{prefix}{entry.pattern}"
            yield Route(path=prefix + _fill(entry.pattern), name=name, callback=entry.callback)
