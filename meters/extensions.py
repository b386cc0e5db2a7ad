"""Extension points of meters' pages that apps above meters register into, so meters never imports
them.

The meter list shows our customer/site mapping inline, with its flags (mapping.flags); the columns
those flags need are added to the list's one query by the mapping app, which registers its
annotation here from its AppConfig.ready. Without the mapping app installed nothing registers and
the list is read as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

from meters.models import Meter

ListAnnotation = Callable[[QuerySet[Meter]], QuerySet[Meter]]
_list_annotations: list[ListAnnotation] = []


def register_list_annotation(annotate: ListAnnotation) -> None:
    """Have the meter list's rows go through `annotate` (once, however often it is registered)."""
    if annotate not in _list_annotations:
        _list_annotations.append(annotate)


def annotate_list(rows: QuerySet[Meter]) -> QuerySet[Meter]:
    """The meter list's rows with what every registered app adds to them, in the same query."""
    for annotate in _list_annotations:
        rows = annotate(rows)
    return rows
