"""Channel: FIFO, backpressure, close semantics, timeouts, stats, bad input, many threads."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from messaging_helpers import blocked_receivers, blocked_senders, runner, wait_for

import ftpool
from ftpool import (
    Channel,
    ChannelStats,
    ClosedError,
    EndOfChannel,
    WouldBlock,
)

KINDS = [0, 1, 3, 1024]  # unbounded and bounded


@pytest.mark.parametrize("capacity", KINDS)
def test_fifo_and_iteration(capacity: int) -> None:
    ch: Channel[int] = Channel(capacity)
    n = min(capacity, 3) or 3
    for i in range(n):
        ch.send(i)
    assert len(ch) == n
    ch.close()
    assert list(ch) == list(range(n))
    assert len(ch) == 0


@pytest.mark.parametrize("capacity", KINDS)
def test_send_after_close_raises_closed_error(capacity: int) -> None:
    ch: Channel[int] = Channel(capacity)
    ch.close()
    ch.close()  # idempotent
    with pytest.raises(ClosedError, match="closed"):
        ch.send(1)
    with pytest.raises(ClosedError):
        ch.send_nowait(1)
    assert ch.closed


@pytest.mark.parametrize("capacity", KINDS)
def test_receivers_drain_then_end_of_channel(capacity: int) -> None:
    ch: Channel[str] = Channel(capacity)
    ch.send("a")
    ch.close()
    assert ch.receive() == "a"
    with pytest.raises(EndOfChannel):
        ch.receive()
    with pytest.raises(EndOfChannel):
        ch.receive_nowait()
    with pytest.raises(EndOfChannel):  # stays ended: the close token is never consumed
        ch.receive(timeout=0)
    assert list(ch) == []


@pytest.mark.parametrize("capacity", KINDS)
def test_receive_nowait_and_timeout_on_empty(capacity: int) -> None:
    ch: Channel[int] = Channel(capacity)
    with pytest.raises(WouldBlock):
        ch.receive_nowait()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="timed out"):
        ch.receive(timeout=0.05)
    assert time.monotonic() - started >= 0.04
    with pytest.raises(TimeoutError):
        ch.receive(timeout=0)
    ch.send(7)
    assert ch.receive(timeout=0) == 7


def test_bounded_send_blocks_while_full_and_times_out() -> None:
    ch: Channel[int] = Channel(2)
    ch.send(1)
    ch.send_nowait(2)
    with pytest.raises(WouldBlock, match="full"):
        ch.send_nowait(3)
    with pytest.raises(TimeoutError):
        ch.send(3, timeout=0.02)
    assert ch.stats().queued == 2  # nothing half-written by the failed sends
    assert ch.receive() == 1
    ch.send(3, timeout=0)
    assert [ch.receive(), ch.receive()] == [2, 3]


def test_bounded_blocked_sender_proceeds_when_room_is_made() -> None:
    ch: Channel[int] = Channel(1)
    ch.send(0)
    with runner() as r:
        r.start("sender", lambda: ch.send(1))
        wait_for(blocked_senders(ch, 1))
        assert ch.receive() == 0
    assert "sender" in r.results
    assert ch.receive() == 1


@pytest.mark.parametrize("capacity", [-1, -100])
def test_negative_capacity_is_a_value_error(capacity: int) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        Channel(capacity)


@pytest.mark.parametrize("capacity", [1.5, "3", None, True])
def test_non_int_capacity_is_a_type_error(capacity: Any) -> None:
    with pytest.raises(TypeError, match="int"):
        Channel(capacity)


@pytest.mark.parametrize("capacity", KINDS)
@pytest.mark.parametrize("timeout", [-0.001, -5, float("nan")])
def test_negative_timeout_is_a_value_error(capacity: int, timeout: float) -> None:
    ch: Channel[int] = Channel(capacity)
    with pytest.raises(ValueError, match="timeout"):
        ch.receive(timeout=timeout)
    with pytest.raises(ValueError, match="timeout"):
        ch.send(1, timeout=timeout)
    assert len(ch) == 0  # the send with a bad timeout queued nothing


@pytest.mark.parametrize("capacity", KINDS)
def test_close_wakes_every_blocked_receiver(capacity: int) -> None:
    for _ in range(10):
        ch: Channel[int] = Channel(capacity)
        with runner() as r:
            for i in range(4):
                r.start(f"receiver-{i}", ch.receive)
            wait_for(blocked_receivers(ch, 4))
            ch.close()
        assert not r.results
        assert sorted(r.errors) == [f"receiver-{i}" for i in range(4)]
        assert all(isinstance(e, EndOfChannel) for e in r.errors.values())


def test_close_wakes_every_blocked_sender() -> None:
    for _ in range(10):
        ch: Channel[int] = Channel(1)
        ch.send(0)
        with runner() as r:
            for i in range(4):
                r.start(f"sender-{i}", lambda i=i, ch=ch: ch.send(i))  # type: ignore[misc]
            wait_for(blocked_senders(ch, 4))
            ch.close()
        assert all(isinstance(e, ClosedError) for e in r.errors.values())
        assert len(r.errors) == 4
        assert list(ch) == [0]  # the item sent before the close is still received


@pytest.mark.parametrize("capacity", [0, 1, 16])
def test_many_producers_and_consumers_lose_and_duplicate_nothing(capacity: int) -> None:
    # Channel(1) hands over every item between threads: on a loaded machine each handover waits
    # for a time slice (queue.Queue(1) measured the same ~30 ms per item with 3 busy processes
    # on 2 cores), so it moves fewer items than the others, in as many rounds.
    producers, consumers, per_producer = 4, 4, 150 if capacity == 1 else 500
    for _ in range(5):
        ch: Channel[tuple[int, int]] = Channel(capacity)
        received: list[list[tuple[int, int]]] = [[] for _ in range(consumers)]

        def produce(p: int, ch: Channel[tuple[int, int]] = ch) -> None:
            for i in range(per_producer):
                ch.send((p, i))

        def consume(
            c: int,
            ch: Channel[tuple[int, int]] = ch,
            received: list[list[tuple[int, int]]] = received,
        ) -> None:
            for item in ch:
                received[c].append(item)

        with runner() as r:
            for c in range(consumers):
                r.start(f"consumer-{c}", lambda c=c: consume(c))  # type: ignore[misc]
            sending = [
                r.start(f"producer-{p}", lambda p=p: produce(p))  # type: ignore[misc]
                for p in range(producers)
            ]
            for thread in sending:
                thread.join()
            ch.close()
        assert not r.errors
        everything = Counter(item for items in received for item in items)
        assert len(everything) == producers * per_producer  # nothing lost
        assert set(everything.values()) == {1}  # nothing duplicated
        for items in received:  # each producer's items arrive in its order at every consumer
            for p in range(producers):
                mine = [i for (q, i) in items if q == p]
                assert mine == sorted(mine)
        stats = ch.stats()
        assert stats.sent == stats.received == producers * per_producer
        assert stats.queued == 0


@pytest.mark.parametrize("capacity", [0, 2])
def test_send_racing_close_is_either_delivered_or_refused(capacity: int) -> None:
    # Every send that returned is received before EndOfChannel; every refused one is not.
    for _ in range(30):
        ch: Channel[int] = Channel(capacity)
        accepted: list[int] = []
        got: list[int] = []

        def produce(ch: Channel[int] = ch, accepted: list[int] = accepted) -> None:
            i = 0
            while True:
                try:
                    ch.send(i)
                except ClosedError:
                    return
                accepted.append(i)
                i += 1

        def consume(ch: Channel[int] = ch, got: list[int] = got) -> None:
            got.extend(ch)

        with runner() as r:
            r.start("consumer", consume)
            r.start("producer", produce)
            time.sleep(0.002)
            ch.close()
        assert not r.errors
        assert got == accepted


@pytest.mark.parametrize("capacity", [0, 2])
def test_closed_and_drained_never_looks_merely_empty(capacity: int) -> None:
    # Receivers pass the close token along; one that finds it in another's hand must still see
    # EndOfChannel, not WouldBlock (a select() would otherwise wait forever).
    for _ in range(50):
        ch: Channel[int] = Channel(capacity)
        ch.send(1)
        ch.close()
        start = threading.Barrier(4)

        def drain(ch: Channel[int] = ch, start: threading.Barrier = start) -> list[str]:
            start.wait()
            outcomes = []
            for _ in range(50):
                try:
                    ch.receive_nowait()
                    outcomes.append("item")
                except EndOfChannel:
                    outcomes.append("end")
                except WouldBlock:
                    outcomes.append("would block")
            return outcomes

        with runner() as r:
            for i in range(4):
                r.start(f"drain-{i}", drain)
        outcomes = [o for result in r.results.values() for o in result]
        assert outcomes.count("item") == 1
        assert "would block" not in outcomes


def test_stats_is_a_frozen_snapshot() -> None:
    ch: Channel[int] = Channel(4)
    ch.send(1)
    ch.send(2)
    ch.receive()
    stats = ch.stats()
    assert stats == ChannelStats(
        sent=2,
        received=1,
        queued=1,
        capacity=4,
        waiting_senders=0,
        waiting_receivers=0,
        closed=False,
    )
    with pytest.raises(AttributeError):
        stats.sent = 5  # type: ignore[misc]
    ch.close()
    assert ch.stats().closed


def test_unbounded_stats_and_waiting_receivers() -> None:
    ch: Channel[int] = Channel()
    assert ch.capacity == 0
    with runner() as r:
        r.start("receiver", ch.receive)
        wait_for(blocked_receivers(ch, 1))
        assert ch.stats().waiting_receivers == 1
        ch.send(5)
    assert r.results["receiver"] == 5
    ch.send(6)
    ch.close()
    stats = ch.stats()
    assert (stats.sent, stats.received, stats.queued, stats.waiting_receivers) == (2, 1, 1, 0)
    assert stats.closed
    assert len(ch) == 1
    assert "unbounded" in repr(ch)
    assert "closed" in repr(ch)


@pytest.mark.parametrize("capacity", KINDS)
def test_with_block_closes_the_channel(capacity: int) -> None:
    with Channel[int](capacity) as ch:
        ch.send(1)
    assert ch.closed
    assert list(ch) == [1]
    assert isinstance(ch, Channel)


@pytest.mark.parametrize("capacity", KINDS)
def test_blocked_receive_wakes_promptly_on_send(capacity: int) -> None:
    ch: Channel[float] = Channel(capacity)
    with runner() as r:
        r.start("receiver", lambda: (ch.receive(), time.perf_counter())[1])
        wait_for(blocked_receivers(ch, 1))
        sent = time.perf_counter()
        ch.send(0.0)
    assert r.results["receiver"] - sent < 0.5  # generous: shared CI machines


def test_receive_timeout_none_waits_until_an_item_arrives() -> None:
    ch: Channel[str] = Channel()
    timer = threading.Timer(0.05, ch.send, args=("late",))
    timer.start()
    assert ch.receive(timeout=None) == "late"
    timer.join()


def test_public_names_are_exported() -> None:
    for name in ("Channel", "ChannelStats", "select"):
        assert name in ftpool.__all__
        assert getattr(ftpool, name).__doc__


@pytest.mark.single_thread  # patches the module's lock factory
@pytest.mark.parametrize("capacity", [0, 1])
def test_an_interrupted_wait_leaves_no_stale_waiter(
    capacity: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # KeyboardInterrupt while blocked: the waiter must leave the channel's waiter list, or a
    # later send would spend its wake-up on it and leave a real receiver asleep.
    import ftpool._channel as channel_module

    class InterruptedSleeper:
        def __init__(self) -> None:
            self._lock = threading.Lock()

        def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
            if self._lock.locked():
                raise KeyboardInterrupt
            return self._lock.acquire(blocking, timeout)

        def release(self) -> None:
            self._lock.release()

    channel: Channel[int] = Channel(capacity)
    monkeypatch.setattr(channel_module, "_allocate_lock", InterruptedSleeper)
    with pytest.raises(KeyboardInterrupt):
        channel.receive()
    if capacity:
        channel.send(1)
        with pytest.raises(KeyboardInterrupt):
            channel.send(2)  # full: it blocks, interrupted
    monkeypatch.undo()
    stats = channel.stats()
    assert (stats.waiting_receivers, stats.waiting_senders) == (0, 0)
