"""meters.sync.prefetch: pages fetched in a thread, ahead of the writer, in order."""

from __future__ import annotations

import threading

import pytest

from meters.sync import prefetch


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
    assert not stream._thread.is_alive()
    assert len(produced) < 10  # it stayed at most `depth` pages ahead, then stopped
