"""Batched channel operations: ``Channel.send_many``/``receive_many``, ``MessagePort.post_messages``
and ``receive_many`` on ports, ``BroadcastChannel`` and ``Worker`` (both sides).

Same semantics as single items: order, close (nothing sent after it; the rest received before
``EndOfChannel``), errors that change nothing, and waking; plus what batches add: ``receive_many``
returns whatever is queued (at least one, at most ``max_items``) and waits only when nothing is;
``send_many`` on a bounded channel sends as room frees and says how many went in when it fails.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

import ftpool
from ftpool import (
    BroadcastChannel,
    Channel,
    ClosedError,
    EndOfChannel,
    MessageChannel,
    Worker,
    parent_port,
)


@pytest.mark.parametrize("capacity", [0, 3, 100])
def test_send_many_and_receive_many_keep_order(capacity: int) -> None:
    channel: Channel[int] = Channel(capacity)
    channel.send_many([1, 2])
    channel.send_many(x for x in (3,))  # any iterable
    assert channel.receive_many(10) == [1, 2, 3]  # whatever is queued, up to max_items
    channel.send_many([])  # an empty batch sends nothing
    assert len(channel) == 0
    channel.send_many(range(3))
    assert channel.receive_many(2) == [0, 1]
    assert channel.receive_many(2) == [2]
    stats = channel.stats()
    assert (stats.sent, stats.received, stats.queued) == (6, 6, 0)


@pytest.mark.parametrize("capacity", [0, 4])
def test_receive_many_waits_only_when_nothing_is_queued(capacity: int) -> None:
    channel: Channel[int] = Channel(capacity)
    timer = threading.Timer(0.05, channel.send_many, ([7, 8],))
    timer.start()
    started = time.monotonic()
    got = channel.receive_many(5, timeout=10)
    timer.join()
    assert got == [7, 8]  # a batch is queued at once: the woken receiver takes all of it
    assert time.monotonic() - started >= 0.04
    with pytest.raises(TimeoutError, match="receive_many"):
        channel.receive_many(5, timeout=0.01)


@pytest.mark.parametrize("capacity", [0, 2])
def test_receive_many_returns_the_rest_before_end_of_channel(capacity: int) -> None:
    channel: Channel[int] = Channel(capacity)
    channel.send_many([1, 2])
    channel.close()
    assert channel.receive_many(1) == [1]
    assert channel.receive_many(5) == [2]
    with pytest.raises(EndOfChannel):
        channel.receive_many(5)


def test_bounded_send_many_sends_as_room_frees() -> None:
    channel: Channel[int] = Channel(3)
    items = list(range(20))
    sender = threading.Thread(target=channel.send_many, args=(items,))
    sender.start()
    got: list[int] = []
    while len(got) < len(items):
        batch = channel.receive_many(2, timeout=10)
        assert 1 <= len(batch) <= 2
        assert len(channel) <= 3  # never more than the capacity queued
        got.extend(batch)
    sender.join(10)
    assert got == items


def test_send_many_to_a_closed_channel_says_how_many_were_sent() -> None:
    channel: Channel[int] = Channel(2)
    channel.close()
    with pytest.raises(ClosedError, match="0 of the 3 items") as info:
        channel.send_many([1, 2, 3])
    assert info.value.sent == 0  # type: ignore[attr-defined]

    channel = Channel(2)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            channel.send_many(range(5))
        except ClosedError as exc:
            errors.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    while channel.stats().waiting_senders == 0:
        time.sleep(0.001)  # wait until it blocks, full after 2 items
    channel.close()
    sender.join(10)
    assert errors
    assert "2 of the 5 items were sent" in str(errors[0])
    assert errors[0].sent == 2  # type: ignore[attr-defined]
    assert channel.receive_many(10) == [0, 1]


def test_send_many_timeout_says_how_many_were_sent() -> None:
    channel: Channel[int] = Channel(2)
    with pytest.raises(TimeoutError, match="2 of 4 items were sent") as info:
        channel.send_many([1, 2, 3, 4], timeout=0.01)
    assert info.value.sent == 2  # type: ignore[attr-defined]
    assert channel.receive_many(5) == [1, 2]


@pytest.mark.parametrize("capacity", [0, 2])
def test_bad_batches_send_nothing(capacity: int) -> None:
    channel: Channel[int] = Channel(capacity)

    def broken() -> object:
        yield 1
        raise RuntimeError("the iterable failed")

    with pytest.raises(RuntimeError, match="the iterable failed"):
        channel.send_many(broken())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        channel.send_many(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        channel.send_many([1], timeout=-1)
    for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError),
                       ("2", TypeError), (None, TypeError)):
        with pytest.raises(error, match="max_items"):
            channel.receive_many(bad)  # type: ignore[arg-type]
    assert channel.stats().sent == 0
    channel.send(1)
    with pytest.raises(TypeError, match="number of seconds"):
        channel.receive_many(2, timeout="1")  # type: ignore[arg-type]
    assert channel.receive_many(2) == [1]  # the rejected calls took nothing


@pytest.mark.parametrize("capacity", [0, 8])
def test_receive_many_racing_with_close_loses_and_duplicates_nothing(capacity: int) -> None:
    total = 600
    # Channel(8) hands batches between threads all the time: on a loaded 2-core machine each
    # handover waits for a time slice (69 s for 30 rounds there), so it runs fewer rounds.
    for _ in range(30 if capacity == 0 else 12):
        channel: Channel[int] = Channel(capacity)
        got: list[list[int]] = [[] for _ in range(3)]

        def receive(
            index: int, channel: Channel[int] = channel, got: list[list[int]] = got
        ) -> None:
            while True:
                try:
                    got[index].extend(channel.receive_many(7, timeout=10))
                except EndOfChannel:
                    return

        def send(start: int, channel: Channel[int] = channel) -> None:
            for first in range(start, start + total // 2, 10):
                channel.send_many(range(first, first + 10))

        receivers = [threading.Thread(target=receive, args=(i,)) for i in range(3)]
        senders = [threading.Thread(target=send, args=(s,)) for s in (0, total // 2)]
        for thread in receivers + senders:
            thread.start()
        for thread in senders:
            thread.join(10)
        channel.close()  # while receivers are mid-batch or blocked
        for thread in receivers:
            thread.join(10)
            assert not thread.is_alive()
        everything = Counter(x for part in got for x in part)
        assert everything == Counter(range(total))  # each exactly once
        for part in got:  # each sender's items arrive in order at each receiver
            for half in (0, total // 2):
                mine = [x for x in part if half <= x < half + total // 2]
                assert mine == sorted(mine)


def test_ports_post_messages_and_receive_many() -> None:
    one, two = MessageChannel()
    one.post_messages(["a", "b", "c"])
    assert two.receive_many(2) == ["a", "b"]
    assert two.receive_many(2) == ["c"]
    one.post_messages([])
    one.close()
    with pytest.raises(ClosedError, match="nothing was posted"):
        two.post_messages(["x"])
    with pytest.raises(EndOfChannel):
        two.receive_many(3)
    with pytest.raises(TypeError, match="post_messages"):
        MessageChannel().port1.post_messages(3)  # type: ignore[arg-type]


def test_broadcast_receive_many() -> None:
    name = f"batch-{threading.get_ident()}-{time.monotonic_ns()}"
    with BroadcastChannel(name) as sender, BroadcastChannel(name) as listener:
        for i in range(4):
            sender.post_message(i)
        assert listener.receive_many(3) == [0, 1, 2]
        assert listener.receive_many(3) == [3]
        sender.post_messages(range(4, 9))
        assert listener.receive_many(10) == [4, 5, 6, 7, 8]
    with pytest.raises(ClosedError, match="nothing was posted"):
        sender.post_messages([1])


def _echo_batches() -> None:
    port = parent_port()
    assert port is not None
    while True:
        try:
            batch = port.receive_many(16)
        except EndOfChannel:
            return
        port.post_messages(x * 2 for x in batch)


def test_worker_post_messages_and_receive_many_both_sides() -> None:
    worker = Worker(_echo_batches)
    worker.post_messages(range(100))
    got: list[int] = []
    while len(got) < 100:
        got.extend(worker.receive_many(32, timeout=10))
    assert got == [x * 2 for x in range(100)]
    worker._port._close_sending()  # the worker's receive_many ends with EndOfChannel
    assert worker.join(10) == 0
    with pytest.raises(EndOfChannel):
        worker.receive_many(5)
    with pytest.raises(ClosedError, match="has exited"):
        worker.post_messages([1])


def test_a_terminated_worker_blocked_in_receive_many_wakes() -> None:
    def target() -> None:
        port = parent_port()
        assert port is not None
        port.receive_many(10)

    worker = Worker(target)
    time.sleep(0.02)
    assert worker.terminate(timeout=5) == 1
    assert isinstance(worker.exception, type(None))


def test_send_many_in_a_terminated_worker_raises_before_sending() -> None:
    channel: Channel[int] = Channel()
    started = threading.Event()
    release = threading.Event()

    def target() -> None:
        started.set()
        release.wait()
        channel.send_many([1, 2, 3])

    worker = Worker(target)
    started.wait(5)
    worker._state.stop.cancel("test")
    release.set()
    assert worker.join(5) == 1
    assert channel.stats().sent == 0
    assert isinstance(worker.exception, type(None))
    assert ftpool.Terminated  # the exit code 1 is Terminated's
