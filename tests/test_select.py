"""select(): the first ready channel, waking without polling, closed channels, bad input."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from messaging_helpers import blocked_receivers, runner, wait_for

from ftpool import (
    BroadcastChannel,
    Channel,
    EndOfChannel,
    MessageChannel,
    Worker,
    parent_port,
    select,
)


@pytest.mark.parametrize("capacity", [0, 4])
def test_returns_the_ready_channel_and_its_item(capacity: int) -> None:
    a: Channel[str] = Channel(capacity)
    b: Channel[str] = Channel(capacity)
    b.send("from b")
    assert select(a, b) == (b, "from b")
    a.send("from a")
    assert select(a, b, timeout=0) == (a, "from a")


def test_blocked_select_wakes_on_send_to_any_channel() -> None:
    for which in range(3):
        channels: list[Channel[int]] = [Channel(), Channel(2), Channel()]
        with runner() as r:
            r.start("selector", lambda channels=channels: select(*channels, timeout=5))  # type: ignore[misc]
            wait_for(
                lambda channels=channels: all(  # type: ignore[misc]
                    c.stats().waiting_receivers == 1 for c in channels
                )
            )
            channels[which].send(which)
        assert r.results["selector"] == (channels[which], which)
        assert all(c.stats().waiting_receivers == 0 for c in channels)  # unregistered


def test_timeout() -> None:
    a: Channel[int] = Channel()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="select"):
        select(a, timeout=0.05)
    assert time.monotonic() - started >= 0.04
    with pytest.raises(TimeoutError):
        select(a, timeout=0)
    assert a.stats().waiting_receivers == 0


def test_closed_channels_are_skipped_until_all_are_drained() -> None:
    a: Channel[int] = Channel()
    b: Channel[int] = Channel(1)
    a.close()
    b.send(1)
    assert select(a, b) == (b, 1)
    with runner() as r:
        r.start("selector", lambda: select(a, b))
        wait_for(blocked_receivers(b, 1))
        b.close()  # the last open channel closes: the blocked select wakes with EndOfChannel
    assert isinstance(r.errors["selector"], EndOfChannel)
    with pytest.raises(EndOfChannel, match="every channel"):
        select(a, b)


def test_no_channel_starves() -> None:
    a: Channel[str] = Channel()
    b: Channel[str] = Channel()
    for _ in range(100):
        a.send("a")
        b.send("b")
    picks = Counter(select(a, b)[1] for _ in range(100))
    assert picks["a"] >= 25
    assert picks["b"] >= 25


def test_many_selectors_and_senders_lose_and_duplicate_nothing() -> None:
    for _ in range(5):
        channels: list[Channel[int]] = [Channel(), Channel(3)]
        got: list[list[int]] = [[], [], []]

        def pick(
            i: int, channels: list[Channel[int]] = channels, got: list[list[int]] = got
        ) -> None:
            while True:
                try:
                    got[i].append(select(*channels)[1])
                except EndOfChannel:
                    return

        def produce(k: int, channel: Channel[int]) -> None:
            for n in range(300):
                channel.send(k * 1000 + n)

        with runner() as r:
            for i in range(3):
                r.start(f"selector-{i}", lambda i=i: pick(i))  # type: ignore[misc]
            senders = [
                r.start(f"sender-{k}", lambda k=k, c=channels[k]: produce(k, c))  # type: ignore[misc]
                for k in range(2)
            ]
            for sender in senders:
                sender.join()
            for channel in channels:
                channel.close()
        assert not r.errors
        everything = [x for items in got for x in items]
        assert sorted(everything) == sorted(k * 1000 + n for k in range(2) for n in range(300))


def test_ports_broadcast_channels_and_workers_are_selectable() -> None:
    left, right = MessageChannel()
    left.post_message("hello")
    assert select(right) == (right, "hello")

    with BroadcastChannel("select-test") as one, BroadcastChannel("select-test") as two:
        one.post_message(1)
        assert select(two, timeout=1) == (two, 1)

    def reply() -> None:
        port = parent_port()
        assert port is not None
        port.post_message(port.receive() * 2)

    with Worker(reply) as worker:
        worker.post_message(21)
        assert select(right, worker, timeout=5) == (worker, 42)
    left.close()


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        select()
    with pytest.raises(TypeError, match="Channel"):
        select([1, 2])  # type: ignore[arg-type]
    a: Channel[Any] = Channel()
    with pytest.raises(ValueError, match="timeout"):
        select(a, timeout=-1)
