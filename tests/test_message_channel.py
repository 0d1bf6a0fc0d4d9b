"""MessageChannel / MessagePort: order, close, listeners and their thread, Node's helpers."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from messaging_helpers import captured_excepthook, runner, wait_for

import ftpool
from ftpool import (
    ClosedError,
    EndOfChannel,
    Message,
    MessageChannel,
    MessagePort,
    WouldBlock,
    receive_message_on_port,
)

_names = itertools.count()


def unique(base: str) -> str:
    """A name no other test (or parallel run of this one) uses."""
    return f"{base}-{next(_names)}"


def listener_threads(channel: str = "") -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t.name.endswith(" listener") and t.name.startswith(channel)]


def test_unpacks_and_carries_messages_both_ways_in_order() -> None:
    channel = MessageChannel()
    a, b = channel
    assert (a, b) == (channel.port1, channel.port2)
    for i in range(100):
        a.post_message(i)
        b.post_message(-i)
    assert [b.receive() for _ in range(100)] == list(range(100))
    assert [a.receive() for _ in range(100)] == [-i for i in range(100)]
    a.close()


def test_objects_are_shared_not_copied() -> None:
    a, b = MessageChannel()
    payload = {"list": [1, 2]}
    a.post_message(payload)
    assert b.receive() is payload
    a.close()


def test_close_either_end_closes_both_and_drains() -> None:
    a, b = MessageChannel()
    a.post_message("to b")
    b.post_message("to a")
    b.close()
    b.close()  # idempotent
    assert a.closed
    assert b.closed
    with pytest.raises(ClosedError, match="closed"):
        a.post_message("late")
    with pytest.raises(ClosedError):
        b.post_message("late")
    assert b.receive() == "to b"  # what was posted before the close is still received
    assert a.receive() == "to a"
    with pytest.raises(EndOfChannel):
        a.receive()
    with pytest.raises(EndOfChannel):
        b.receive_nowait()
    assert list(a) == []


def test_receive_timeout_nowait_and_node_helper() -> None:
    a, b = MessageChannel()
    with pytest.raises(TimeoutError):
        b.receive(timeout=0.01)
    with pytest.raises(WouldBlock):
        b.receive_nowait()
    with pytest.raises(ValueError, match="timeout"):
        b.receive(timeout=-1)
    assert receive_message_on_port(b) is None
    a.post_message({"n": 1})
    assert receive_message_on_port(b) == Message(message={"n": 1})
    a.close()
    assert receive_message_on_port(b) is None  # closed and drained: None, as in Node
    with pytest.raises(TypeError, match="MessagePort"):
        receive_message_on_port("not a port")


def test_iteration_ends_when_the_peer_closes() -> None:
    a, b = MessageChannel()

    def produce() -> None:
        for i in range(50):
            a.post_message(i)
        a.close()

    with runner() as r:
        r.start("producer", produce)
        got = list(b)
    assert got == list(range(50))


def test_close_wakes_a_blocked_receiver() -> None:
    for _ in range(10):
        a, b = MessageChannel()
        with runner() as r:
            r.start("receiver", b.receive)
            wait_for(lambda b=b: b._in.stats().waiting_receivers == 1)  # type: ignore[misc]
            a.close()
        assert isinstance(r.errors["receiver"], EndOfChannel)


def test_ports_cannot_be_created_directly() -> None:
    with pytest.raises(TypeError, match="MessageChannel"):
        MessagePort()


def test_message_listener_runs_in_order_on_one_thread_that_ends_with_the_port() -> None:
    name = unique("listened")  # its threads are named after it: parallel runs do not mix
    a, b = MessageChannel(name)
    a.post_message(0)  # queued before any listener: delivered when the first one is added
    assert listener_threads(name) == []  # no thread until a "message" listener is added
    seen: list[tuple[int, str]] = []
    b.on("close", lambda: seen.append((-1, threading.current_thread().name)))
    assert listener_threads(name) == []  # "close" alone starts no thread
    b.on("message", lambda m: seen.append((m, threading.current_thread().name)))
    assert len(listener_threads(name)) == 1
    for i in range(1, 200):
        a.post_message(i)
    a.close()
    assert b.wait_closed(timeout=5)
    assert [m for m, _ in seen] == [*range(200), -1]  # every message in order, then "close"
    names = {name for _, name in seen}
    assert len(names) == 1
    assert names != {threading.current_thread().name}
    assert listener_threads(name) == []  # the listener thread ended with the port


def test_raising_listener_is_reported_and_delivery_continues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = MessageChannel()
    seen: list[int] = []

    def listener(message: int) -> None:
        if message == 1:
            raise RuntimeError("listener failed on 1")
        seen.append(message)

    with captured_excepthook(monkeypatch) as reported:
        b.on("message", listener)
        for i in range(4):
            a.post_message(i)
        a.close()
        assert b.wait_closed(timeout=5)
    assert seen == [0, 2, 3]
    assert len(reported) == 1
    assert isinstance(reported[0], RuntimeError)
    assert any("listener" in note for note in reported[0].__notes__)


def test_close_listeners_fire_once_on_both_ends() -> None:
    a, b = MessageChannel()
    fired: list[str] = []
    a.on("close", lambda: fired.append("a"))
    b.on("close", lambda: fired.append("b"))
    b.on("message", lambda m: None)  # b has a listener thread, a has none
    a.close()
    b.close()
    a.close()
    assert b.wait_closed(timeout=5)
    assert a.wait_closed(timeout=5)
    assert sorted(fired) == ["a", "b"]


def test_off_stops_delivery_and_messages_wait_for_the_next_listener() -> None:
    a, b = MessageChannel()
    first: list[int] = []
    second: list[int] = []
    got_one = threading.Event()

    def on_first(message: int) -> None:
        first.append(message)
        got_one.set()

    b.on("message", on_first)
    a.post_message(1)
    assert got_one.wait(5)
    assert b.off("message", on_first)
    assert not b.off("message", on_first)  # not registered any more
    a.post_message(2)
    a.post_message(3)
    b.on("message", second.append)
    a.close()
    assert b.wait_closed(timeout=5)
    assert first == [1]
    assert second == [2, 3]  # held while nobody listened, not dropped


def test_unknown_event_and_non_callable() -> None:
    a, b = MessageChannel()
    with pytest.raises(ValueError, match="valid events: message, close"):
        a.on("messages", print)
    with pytest.raises(ValueError, match="valid events"):
        a.off("exit", print)
    with pytest.raises(TypeError, match="callable"):
        a.on("message", "print")  # type: ignore[arg-type]
    assert b.off("close", print) is False
    a.close()


def test_wait_closed_times_out_while_open() -> None:
    a, b = MessageChannel()
    assert not a.wait_closed(timeout=0.01)
    with pytest.raises(ValueError):
        a.wait_closed(timeout=-1)
    b.close()
    assert a.wait_closed(timeout=1)


def test_a_port_sent_inside_a_message_is_the_transfer() -> None:
    control_a, control_b = MessageChannel()
    data_a, data_b = MessageChannel()
    control_a.post_message(data_b)

    def use_port() -> Any:
        port = control_b.receive()
        port.post_message("through the transferred port")
        port.close()

    with runner() as r:
        r.start("user", use_port)
        assert data_a.receive(timeout=5) == "through the transferred port"
    control_a.close()


def test_repr_names_the_port() -> None:
    channel = MessageChannel("jobs")
    assert "jobs.port1" in repr(channel.port1)
    channel.port1.close()
    assert "closed" in repr(channel.port2)
    assert "MessageChannel" in ftpool.__all__
