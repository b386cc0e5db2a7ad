"""Extension points of meters' pages that apps above meters register into, so meters never imports
them.

The meter list shows our customer/site mapping inline, with its flags (mapping.flags); the columns
those flags need are added to the list's one query by the mapping app, which registers its
annotation here from its AppConfig.ready, with the cell that shows them (the list's rows are
rendered in Python, meters.templatetags.meter_rows). Without the mapping app installed nothing
registers and the list is read and shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from meters.models import Meter

ListAnnotation = Callable[[QuerySet[Meter]], QuerySet[Meter]]
_list_annotations: list[ListAnnotation] = []
# Given the request, a function that renders one meter's cell (its <td>'s content, escaped).
ListCell = Callable[[HttpRequest | None], Callable[[Meter], SafeString]]
_list_cells: list[ListCell] = []


def register_list_annotation(annotate: ListAnnotation) -> None:
    """Have the meter list's rows go through `annotate` (once, however often it is registered)."""
    if annotate not in _list_annotations:
        _list_annotations.append(annotate)


def annotate_list(rows: QuerySet[Meter]) -> QuerySet[Meter]:
    """The meter list's rows with what every registered app adds to them, in the same query."""
    for annotate in _list_annotations:
        rows = annotate(rows)
    return rows


def register_list_cell(cell: ListCell) -> None:
    """Show a cell of `cell`'s in each row of the meter list, before "Leap updated" (once)."""
    if cell not in _list_cells:
        _list_cells.append(cell)


def list_cells() -> list[ListCell]:
    """The registered cells of the meter list's rows, in the order they were registered."""
    return list(_list_cells)
