"""meters.sync.speed.prefetch: pages fetched in a thread, ahead of the writer, in order."""

from __future__ import annotations

import threading

import pytest

import leap
from leap.client import Page, RawPage
from meters.sync.speed import prefetch


def test_pages_arrive_in_order_and_the_stream_ends():
    assert list(prefetch(iter([[1], [2], [3]]))) == [[1], [2], [3]]


def test_fetching_starts_before_the_first_page_is_asked_for():
    fetched = threading.Event()

    def pages():
        fetched.set()
        yield ["a"]

    stream = prefetch(pages())
    assert fetched.wait(5), "the fetcher thread should start when the prefetcher is created"
    assert next(stream) == ["a"]
    stream.close()


def test_a_fetch_error_is_raised_where_the_caller_reaches_it():
    def pages():
        yield [1]
        raise ConnectionError("Leap went away")

    stream = prefetch(pages())
    assert next(stream) == [1]
    with pytest.raises(ConnectionError, match="Leap went away"):
        next(stream)
    with pytest.raises(StopIteration):
        next(stream)


def test_close_stops_a_fetcher_that_is_ahead():
    produced = []

    def pages():
        for n in range(1000):
            produced.append(n)
            yield [n]

    stream = prefetch(pages(), depth=2)
    assert next(stream) == [0]
    stream.close()
    assert not any(thread.is_alive() for thread in stream._threads)
    assert len(produced) < 10  # it stayed a few pages ahead (queues of 1 and `depth`), then stopped


@pytest.mark.leap_sim(meters=25, changes_per_hour=0)
def test_lazy_search_pages_are_validated_in_the_prefetcher_like_eager_ones(leap_sim):
    with leap.get_client() as client:
        eager = list(client.iter_enrollment_pages(None, 10))
        raw = list(client.iter_enrollment_pages(None, 10, lazy=True))
        prefetched = list(prefetch(client.iter_enrollment_pages(None, 10, lazy=True)))

    assert all(isinstance(page, RawPage) for page in raw)
    assert [len(page) for page in raw] == [10, 10, 5]
    assert all(isinstance(page, Page) for page in prefetched)
    assert [[e.raw for e in page] for page in prefetched] == [[e.raw for e in p] for p in eager]
    assert [p.next_page_token is None for p in prefetched] == [False, False, True]


def test_a_chained_search_is_fetched_once_the_one_before_is_read():
    order = []
    release = threading.Event()

    def first():
        order.append("first starts")
        yield [1]
        release.wait(5)
        order.append("first ends")

    def second():
        order.append("second starts")
        yield [2]

    one = prefetch(first())
    two = prefetch(second(), after=one)
    assert next(one) == [1]
    assert "second starts" not in order  # waits for the first search to be read to its end
    release.set()
    assert next(two) == [2]
    assert order == ["first starts", "first ends", "second starts"]
    assert list(one) == []
    two.close()
