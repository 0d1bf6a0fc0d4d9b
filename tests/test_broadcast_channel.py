"""BroadcastChannel: every other open instance with the name gets each message."""

from __future__ import annotations

import itertools
import threading

import pytest
from messaging_helpers import captured_excepthook

from ftpool import BroadcastChannel, ClosedError, EndOfChannel, WouldBlock

_names = itertools.count()


def unique(base: str) -> str:
    """A group name no other test uses: groups are process-wide, so tests running at the same
    time (pytest-run-parallel) must not share one."""
    return f"{base}-{next(_names)}"


def test_every_other_instance_receives_each_message_in_order() -> None:
    news = unique("news")
    with (
        BroadcastChannel(news) as one,
        BroadcastChannel(news) as two,
        BroadcastChannel(news) as three,
        BroadcastChannel(unique("other")) as stranger,
    ):
        one.post_message("a")
        two.post_message("b")
        assert two.receive() == "a"  # one's message; not its own "b"
        with pytest.raises(WouldBlock):
            two.receive_nowait()
        assert [three.receive(), three.receive()] == ["a", "b"]
        assert one.receive() == "b"
        with pytest.raises(WouldBlock):
            one.receive_nowait()  # the poster does not receive its own message
        with pytest.raises(WouldBlock):
            stranger.receive_nowait()
        assert one.name == news


def test_closed_instance_leaves_the_group_and_drains() -> None:
    group = unique("group")
    sender = BroadcastChannel(group)
    receiver = BroadcastChannel(group)
    sender.post_message(1)
    receiver.close()
    receiver.close()  # idempotent
    sender.post_message(2)  # receiver has left: not delivered, no error
    assert receiver.receive() == 1
    with pytest.raises(EndOfChannel):
        receiver.receive()
    with pytest.raises(ClosedError, match="closed"):
        receiver.post_message(3)
    sender.close()
    assert sender.closed
    assert "closed" in repr(sender)


def test_listeners_run_on_a_thread_that_ends_with_close(monkeypatch: pytest.MonkeyPatch) -> None:
    group = unique("listen")
    poster = BroadcastChannel(group)
    listener = BroadcastChannel(group)
    got: list[int] = []
    closed = threading.Event()

    def on_message(message: int) -> None:
        if message == 0:
            raise ValueError("bad message")
        got.append(message)

    with captured_excepthook(monkeypatch) as reported:
        listener.on("message", on_message)
        listener.on("close", closed.set)
        for i in range(5):
            poster.post_message(i)
        poster.close()
        listener.close()
        assert listener.wait_closed(timeout=5)
    assert got == [1, 2, 3, 4]
    assert closed.is_set()
    assert [type(e) for e in reported] == [ValueError]
    with pytest.raises(ValueError, match="valid events"):
        listener.on("error", print)


def test_bad_name() -> None:
    with pytest.raises(TypeError, match="str"):
        BroadcastChannel(42)  # type: ignore[arg-type]
