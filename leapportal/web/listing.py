"""URL-driven sorting and pagination shared by every list page.

Sorting: `?sort=name` or `?sort=-name`, limited to the keys a page allows (anything else falls back
to the page's default, so a hand-edited URL never breaks a page). Pagination: offset pages with a
capped count. An exact COUNT(*) over 100,000 filtered rows costs more than the page itself, so we
count at most `cap` rows and say "more than N" beyond that; every page costs two queries however
large it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, QuerySet

DEFAULT_PER_PAGE = 50
PER_PAGE_CHOICES = (25, 50, 100, 200)
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Sort:
    """The sort a request asked for, resolved against the allowed keys."""

    key: str
    descending: bool
    order_by: list[Any]

    @property
    def param(self) -> str:
        """The value of ?sort= that reproduces this sort."""
        return f"-{self.key}" if self.descending else self.key

    def toggled(self, key: str) -> str:
        """?sort= value for a column header: flips direction if it is the current column."""
        if key == self.key:
            return key if self.descending else f"-{key}"
        return key


def parse_sort(
    raw: str | None, allowed: Mapping[str, Sequence[str]], default: str, tiebreak: str = "pk"
) -> Sort:
    """Resolve ?sort= against `allowed` (key -> model fields); unknown keys use the default."""
    value = (raw or "").strip() or default
    descending = value.startswith("-")
    key = value.lstrip("-")
    if key not in allowed:
        descending = default.startswith("-")
        key = default.lstrip("-")
    order_by: list[Any] = []
    for name in allowed[key]:
        # A field listed as "-name" is naturally descending; asking for -key flips every field.
        natural_desc = name.startswith("-")
        column = F(name.lstrip("-"))
        if natural_desc != descending:
            order_by.append(column.desc(nulls_last=True))
        else:
            order_by.append(column.asc(nulls_last=True))
    order_by.append(f"-{tiebreak}" if descending else tiebreak)  # stable: pages never repeat rows
    return Sort(key=key, descending=descending, order_by=order_by)


@dataclass
class Page:
    """One page of a list, with just enough counting to draw a pager."""

    items: list[Any]
    number: int
    per_page: int
    count: int | None  # None: not counted
    count_capped: bool
    has_next: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_previous(self) -> bool:
        """Whether a previous page exists."""
        return self.number > 1

    @property
    def start_index(self) -> int:
        """1-based index of the first row on this page (0 when empty)."""
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def end_index(self) -> int:
        """1-based index of the last row on this page."""
        return self.start_index + len(self.items) - 1 if self.items else 0

    @property
    def num_pages(self) -> int | None:
        """Number of pages, unless the count was capped."""
        if self.count_capped or self.count is None:
            return None
        return max(1, -(-self.count // self.per_page))

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _positive_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw or default)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def per_page_from(params: Mapping[str, str], default: int = DEFAULT_PER_PAGE) -> int:
    """?per_page= limited to the offered choices."""
    value = _positive_int(params.get("per_page"), default)
    return value if value in PER_PAGE_CHOICES else default


def paginate(
    queryset: QuerySet[Any],
    params: Mapping[str, str],
    *,
    per_page: int | None = None,
    cap: int = COUNT_CAP,
    count: bool = True,
    rows_from: QuerySet[Any] | None = None,
) -> Page:
    """Page `queryset` by ?page= and ?per_page=, in exactly two queries (rows and capped count).

    With count=False (substring searches, whose count would scan the table a second time) the
    pager shows the rows and a next link but no total.

    With `rows_from` (the unfiltered rows with their joins and per-row subqueries), the page is
    found first and its rows read afterwards, in the same single query: `queryset` (filters and
    sort only) picks the page's keys, often from an index alone, and only those rows are read
    from `rows_from`, sorted as `queryset` is. Otherwise the joins and subqueries of a list are
    paid for every row an OFFSET skips too.
    """
    size = per_page or per_page_from(params)
    number = _positive_int(params.get("page"), 1)
    max_page = cap // size + 1
    number = min(number, max_page)  # deep offsets are the slow part; past the cap, filter instead
    offset = (number - 1) * size
    window = queryset[offset : offset + size + 1]
    if rows_from is None:
        rows = list(window)
    else:
        keys = window.values("pk")
        rows = list(rows_from.filter(pk__in=keys).order_by(*queryset.query.order_by))
    has_next = len(rows) > size
    rows = rows[:size]
    if number == 1 and not has_next:
        total: int | None = len(rows)  # the whole list fits on one page: no count query needed
    elif count:
        total = queryset.order_by()[: cap + 1].count()
    else:
        total = None
    return Page(
        items=rows,
        number=number,
        per_page=size,
        count=min(total, cap) if total is not None else None,
        count_capped=total is not None and total > cap,
        has_next=has_next and number < max_page,
    )
