"""A page of a search: the objects that validated and the ones that did not; or a page fetched
and not validated yet (`RawPage`, from a `lazy=True` search)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from leap.errors import LeapBadPayload
from leap.schemas import RawModel

if TYPE_CHECKING:
    from leap.client.core import ClientCore

T = TypeVar("T", bound=RawModel)
# What a Page holds: validated objects, or what a caller made of them (the meter sync prepares them).
Item = TypeVar("Item")
OnBad = Callable[[LeapBadPayload], None]


class Page(list[Item], Generic[Item]):
    """One page of a search: the objects that validated, plus the ones that did not.

    `failures` holds a LeapBadPayload (with `.raw` and `.errors`) for every object of the page that
    failed validation; the good objects of the page are still returned. `number` counts pages
    within one search (from 1); `next_page_token` is Leap's token for the following page.
    """

    def __init__(
        self,
        items: Iterable[Item] = (),
        *,
        failures: list[LeapBadPayload] | None = None,
        number: int = 1,
        next_page_token: str | None = None,
    ) -> None:
        super().__init__(items)
        self.failures: list[LeapBadPayload] = failures or []
        self.number = number
        self.next_page_token = next_page_token


class RawPage(Generic[T]):
    """A page fetched but not validated yet (`lazy=True` searches): `validate()` gives the Page.

    Lets a caller validate one page while the next is being fetched: the search asks Leap for
    the next page as soon as it is iterated again, without waiting for this page's objects to be
    validated. The objects are the dicts Leap sent.
    """

    def __init__(self, client: ClientCore, model: type[T], items: list[Any], **page: Any) -> None:
        self._client = client
        self._model = model
        self._items = items
        self._page = page

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> list[Any]:
        """The objects as Leap sent them (dicts, unless Leap sent something else)."""
        return self._items

    def validate(self, items: list[Any] | None = None) -> Page[T]:
        """Validate every object (each invalid one becomes a LeapBadPayload in `failures`);
        `items`: only these of the page's objects (the rest were dealt with otherwise)."""
        chosen = self._items if items is None else items
        return self._client._page(self._model, chosen, **self._page)
