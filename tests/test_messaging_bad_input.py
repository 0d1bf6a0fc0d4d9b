"""Bad input to the messaging API (Channel, select, MessageChannel/MessagePort, BroadcastChannel,
Worker, CancelToken): wrong types, wrong values, use after close, and calls from inside the
object's own callbacks. Each gets the documented error with a message that says what was wrong,
and the object is unchanged afterwards (a failed send leaves the channel as it was).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pytest
from messaging_helpers import captured_excepthook

import ftpool
from ftpool import (
    BroadcastChannel,
    CancelToken,
    Channel,
    ClosedError,
    EndOfChannel,
    MessageChannel,
    Terminated,
    Worker,
    WouldBlock,
    receive_message_on_port,
    select,
)

BAD_TIMEOUTS: list[tuple[object, type[Exception], str]] = [
    (-1, ValueError, ">= 0"),
    (-0.001, ValueError, ">= 0"),
    (math.nan, ValueError, ">= 0"),
    ("1", TypeError, "number of seconds"),
    (True, TypeError, "number of seconds"),
    ([1], TypeError, "number of seconds"),
]


# --- Channel ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacity", "error", "match"),
    [(-1, ValueError, ">= 0"), (1.5, TypeError, "int"), ("3", TypeError, "int"),
     (True, TypeError, "int"), (None, TypeError, "int")],
)
def test_channel_capacity(capacity: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Channel(capacity)  # type: ignore[arg-type]


def filled(capacity: int) -> Channel[int]:
    channel: Channel[int] = Channel(capacity)
    channel.send(1)
    channel.send(2)
    return channel


CALLS: dict[str, Callable[[Channel[Any], object], object]] = {
    "send": lambda ch, t: ch.send(3, timeout=t),
    "receive": lambda ch, t: ch.receive(timeout=t),
    "select": lambda ch, t: select(ch, timeout=t),
    "send_many": lambda ch, t: ch.send_many([3, 4], timeout=t),
    "receive_many": lambda ch, t: ch.receive_many(2, timeout=t),
}


@pytest.mark.parametrize("capacity", [0, 2, 5])
@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize(("timeout", "error", "match"), BAD_TIMEOUTS)
def test_channel_bad_timeouts_change_nothing(
    capacity: int, call: str, timeout: object, error: type[Exception], match: str
) -> None:
    channel = filled(capacity)
    before = channel.stats()
    with pytest.raises(error, match=match):
        CALLS[call](channel, timeout)
    assert channel.stats() == before
    assert [channel.receive_nowait(), channel.receive_nowait()] == [1, 2]


@pytest.mark.parametrize("capacity", [0, 2])
def test_failed_sends_leave_the_channel_as_it_was(capacity: int) -> None:
    channel = filled(capacity)
    if capacity:  # full: the item is not queued, whichever way it was tried
        before = channel.stats()
        with pytest.raises(WouldBlock, match="full"):
            channel.send_nowait(3)
        with pytest.raises(TimeoutError, match="timed out"):
            channel.send(3, timeout=0.01)
        assert channel.stats() == before
    channel.close()
    before = channel.stats()
    for send in (channel.send, channel.send_nowait, lambda x: channel.send(x, timeout=1)):
        with pytest.raises(ClosedError, match="after close"):
            send(3)
    assert channel.stats() == before
    assert list(channel) == [1, 2]  # what was queued is still received, then the end
    with pytest.raises(EndOfChannel):
        channel.receive_nowait()
    with pytest.raises(EndOfChannel):
        channel.receive(timeout=0)
    after = channel.stats()
    assert (after.sent, after.received, after.queued) == (2, 2, 0)


@pytest.mark.parametrize("capacity", [0, 1])
def test_empty_receives_change_nothing(capacity: int) -> None:
    channel: Channel[int] = Channel(capacity)
    before = channel.stats()
    with pytest.raises(WouldBlock, match="nothing is queued"):
        channel.receive_nowait()
    with pytest.raises(TimeoutError, match="timed out"):
        channel.receive(timeout=0.01)
    with pytest.raises(TimeoutError, match="timed out"):
        select(channel, timeout=0)
    assert channel.stats() == before
    channel.send(7)
    assert channel.receive_nowait() == 7


def test_would_block_says_what_to_do_and_names_the_object() -> None:
    full: Channel[int] = Channel(1)
    full.send(1)
    with pytest.raises(WouldBlock, match=r"Channel\.send_nowait\(\).*call send\(\) to wait"):
        full.send_nowait(2)
    with pytest.raises(WouldBlock, match=r"Channel\.receive_nowait\(\).*call receive\(\)"):
        Channel().receive_nowait()
    a, b = MessageChannel()
    with pytest.raises(WouldBlock, match=r"port2\.receive_nowait\(\).*call receive\(\)"):
        b.receive_nowait()
    group = BroadcastChannel("would-block-message")
    with pytest.raises(WouldBlock, match=r"BroadcastChannel 'would-block-message'.*receive\(\)"):
        group.receive_nowait()
    assert receive_message_on_port(b) is None
    a.close()
    group.close()


def test_select_bad_arguments() -> None:
    channel: Channel[int] = Channel()
    with pytest.raises(ValueError, match="at least one channel"):
        select()
    for bad in (42, [channel], "ch", None):
        with pytest.raises(TypeError, match="receives from Channel"):
            select(channel, bad)
    channel.close()
    with pytest.raises(EndOfChannel, match="every channel is closed"):
        select(channel)


# --- MessageChannel, MessagePort, BroadcastChannel -------------------------------------------


def test_message_channel_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="name"):
        MessageChannel(42)  # type: ignore[arg-type]


def test_port_bad_arguments_leave_it_working() -> None:
    a, b = MessageChannel()
    a.post_message("before")
    for timeout, error, match in BAD_TIMEOUTS:
        with pytest.raises(error, match=match):
            b.receive(timeout=timeout)  # type: ignore[arg-type]
        with pytest.raises(error, match=match):
            b.wait_closed(timeout=timeout)  # type: ignore[arg-type]
        with pytest.raises(error, match=match):
            b.receive_many(3, timeout=timeout)  # type: ignore[arg-type]
    for max_items, error in ((0, ValueError), (-2, ValueError), (2.0, TypeError),
                             (False, TypeError), ("3", TypeError)):
        with pytest.raises(error, match="max_items"):
            b.receive_many(max_items)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        a.post_messages(None)  # type: ignore[arg-type]

    def failing() -> Any:
        yield "lost"
        raise RuntimeError("the iterable failed")

    with pytest.raises(RuntimeError, match="the iterable failed"):
        a.post_messages(failing())  # nothing posted: read whole first
    with pytest.raises(ValueError, match="valid events: message, close"):
        b.on("messages", print)
    with pytest.raises(TypeError, match="callable"):
        b.on("message", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="valid events"):
        b.off("error", print)
    assert b.off("message", print) is False  # never added: no error
    with pytest.raises(TypeError, match="MessagePort or BroadcastChannel"):
        receive_message_on_port(Channel())
    with pytest.raises(TypeError, match="MessageChannel"):
        ftpool.MessagePort()
    assert b.receive(timeout=1) == "before"  # unchanged by all of the above
    a.close()
    with pytest.raises(ClosedError, match="create a new MessageChannel"):
        a.post_message(1)
    with pytest.raises(ClosedError, match="create a new MessageChannel"):
        b.post_message(1)
    with pytest.raises(EndOfChannel):
        b.receive(timeout=1)
    assert receive_message_on_port(b) is None


def test_broadcast_bad_arguments() -> None:
    for bad in (42, None, b"name"):
        with pytest.raises(TypeError, match="must be a str"):
            BroadcastChannel(bad)  # type: ignore[arg-type]
    with BroadcastChannel("bad-input-bc") as one, BroadcastChannel("bad-input-bc") as two:
        one.post_message(1)
        with pytest.raises(ValueError, match=">= 0"):
            two.receive(timeout=-1)
        with pytest.raises(ValueError, match="valid events"):
            two.on("error", print)
        assert two.receive(timeout=1) == 1
    with pytest.raises(ClosedError, match="create a new one"):
        one.post_message(2)


def test_port_calls_from_inside_its_own_listeners(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = MessageChannel()
    seen: list[object] = []
    errors: list[BaseException] = []

    def on_message(message: object) -> None:
        seen.append(message)
        if message == "close":
            b.close()  # closing from its own listener thread: no deadlock
            assert b.wait_closed(timeout=5)  # does not wait for itself
            b.on("message", seen.append)  # adding listeners from a listener is allowed
            b.off("message", seen.append)

    def on_close() -> None:
        try:
            b.post_message("after close")
        except ClosedError as exc:
            errors.append(exc)

    with captured_excepthook(monkeypatch) as reported:
        b.on("message", on_message)
        b.on("close", on_close)
        a.post_message(1)
        a.post_message("close")
        assert b.wait_closed(timeout=5)
    assert seen == [1, "close"]
    assert [type(e) for e in errors] == [ClosedError]
    assert reported == []


# --- Worker ----------------------------------------------------------------------------------


def test_worker_bad_arguments() -> None:
    for bad in (42, None, "print"):
        with pytest.raises(TypeError, match="must be callable"):
            Worker(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        Worker(print, name=5)  # type: ignore[arg-type]
    gate = threading.Event()
    with Worker(gate.wait, 5) as worker:
        for timeout, error, match in BAD_TIMEOUTS:
            with pytest.raises(error, match=match):
                worker.join(timeout)  # type: ignore[arg-type]
            with pytest.raises(error, match=match):
                worker.terminate(timeout)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="online, message, error, exit"):
            worker.on("close", print)
        with pytest.raises(TypeError, match="callable"):
            worker.on("exit", None)  # type: ignore[arg-type]
        assert worker.is_alive()  # nothing above stopped it (not even a bad terminate)
        gate.set()
    assert worker.exit_code == 0
    with pytest.raises(ClosedError, match="has exited"):
        worker.post_message(1)


def test_worker_calls_from_inside_its_own_callbacks() -> None:
    results: dict[str, object] = {}
    holder: dict[str, Worker] = {}
    ready = threading.Event()

    def target() -> None:
        assert ready.wait(5)
        me = holder["worker"]
        try:
            me.join()  # the target waiting for itself
        except RuntimeError as exc:
            results["join from target"] = exc
        try:
            me.terminate()  # the worker terminating itself
        except Terminated as exc:
            results["terminate from target"] = exc
            raise

    def on_exit(code: int) -> None:  # on the worker thread (it has no listener thread)
        worker = holder["worker"]
        results["join from exit"] = worker.join(5)
        results["terminate from exit"] = worker.terminate(5)

    worker = Worker(target)
    holder["worker"] = worker
    worker.on("exit", on_exit)
    ready.set()
    assert worker.join(5) == 1
    assert "cannot wait for itself" in str(results["join from target"])
    assert isinstance(results["terminate from target"], Terminated)
    assert results["join from exit"] == 1
    assert results["terminate from exit"] == 1
    assert worker.exception is None  # terminated on request: not an error


# --- CancelToken -----------------------------------------------------------------------------


def test_cancel_token_rejects_a_callback_that_is_not_callable() -> None:
    token = CancelToken()
    with pytest.raises(TypeError, match="callable"):
        token.add_callback(42)  # type: ignore[arg-type]
    assert token.cancel("reason") is True  # nothing broken was registered


def test_cancel_token_used_from_inside_its_own_callbacks() -> None:
    token = CancelToken()
    seen: list[object] = []

    def callback(reason: object) -> None:
        seen.append(("cancel again", token.cancel("twice")))
        seen.append(("add late", token.add_callback(print)))
        token.remove_callback(callback)
        seen.append(("reason", token.reason))

    token.add_callback(callback)
    assert token.cancel("first")
    assert seen == [("cancel again", False), ("add late", False), ("reason", "first")]
    with pytest.raises(ftpool.Cancelled, match="first"):
        token.raise_if_cancelled()
