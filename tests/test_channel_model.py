"""Model-based test of Channel (hypothesis stateful testing): random sequences of send/receive
(blocking with a zero timeout, and nowait), select and close, on bounded and unbounded channels,
each checked against a plain deque after every step, with ``stats()`` and ``len()``.

Single-threaded on purpose: the model says exactly what each call must do (return, WouldBlock,
TimeoutError, ClosedError, EndOfChannel), and that a failing call changes nothing.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ftpool import Channel, ClosedError, EndOfChannel, WouldBlock, select

items = st.one_of(st.integers(), st.text(max_size=3), st.none(), st.tuples(st.integers()))


class ChannelModel(RuleBasedStateMachine):
    """A Channel and its model: the queued items, closed, and how many were sent and taken."""

    def __init__(self) -> None:
        super().__init__()
        self.channel: Channel[Any] = Channel()
        self.queue: deque[Any] = deque()
        self.capacity = 0
        self.closed = False
        self.sent = 0
        self.received = 0

    @initialize(capacity=st.sampled_from([0, 0, 1, 2, 3, 7]))
    def make(self, capacity: int) -> None:
        self.channel = Channel(capacity)
        self.capacity = capacity

    def full(self) -> bool:
        return bool(self.capacity) and len(self.queue) >= self.capacity

    # --- sending ---------------------------------------------------------------------------------

    def expect_send(self, item: Any, send: Any) -> None:
        if self.closed:
            with pytest.raises(ClosedError, match="closed"):
                send(item)
        elif self.full():
            with pytest.raises((WouldBlock, TimeoutError)):
                send(item)
        else:
            send(item)
            self.queue.append(item)
            self.sent += 1

    @rule(item=items)
    def send_nowait(self, item: Any) -> None:
        self.expect_send(item, self.channel.send_nowait)
        if self.full() and not self.closed:
            with pytest.raises(WouldBlock, match="full"):
                self.channel.send_nowait(item)

    @rule(item=items)
    def send_zero_timeout(self, item: Any) -> None:
        if self.full() and not self.closed:
            with pytest.raises(TimeoutError):
                self.channel.send(item, timeout=0)
        else:
            self.expect_send(item, lambda x: self.channel.send(x, timeout=0))

    @rule(item=items)
    @precondition(lambda self: not self.full() or self.closed)
    def send(self, item: Any) -> None:  # never blocks here: not full, or closed
        self.expect_send(item, self.channel.send)

    # --- receiving -------------------------------------------------------------------------------

    def expect_receive(self, receive: Any, empty_error: type[BaseException]) -> None:
        if self.queue:
            assert receive() == self.queue.popleft()
            self.received += 1
        elif self.closed:
            with pytest.raises(EndOfChannel):
                receive()
        else:
            with pytest.raises(empty_error):
                receive()

    @rule()
    def receive_nowait(self) -> None:
        self.expect_receive(self.channel.receive_nowait, WouldBlock)

    @rule()
    def receive_zero_timeout(self) -> None:
        self.expect_receive(lambda: self.channel.receive(timeout=0), TimeoutError)

    @rule()
    @precondition(lambda self: self.queue or self.closed)
    def receive(self) -> None:  # never blocks here: something is queued, or it is closed
        self.expect_receive(self.channel.receive, TimeoutError)

    @rule()
    def select_zero_timeout(self) -> None:
        def via_select() -> Any:
            channel, item = select(self.channel, timeout=0)
            assert channel is self.channel
            return item

        self.expect_receive(via_select, TimeoutError)

    @rule()
    @precondition(lambda self: self.closed)
    def drain_by_iteration(self) -> None:
        assert list(self.channel) == list(self.queue)
        self.received += len(self.queue)
        self.queue.clear()

    # --- closing ---------------------------------------------------------------------------------

    @rule()
    def close(self) -> None:
        self.channel.close()  # idempotent
        self.closed = True

    # --- after every step ------------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        stats = self.channel.stats()
        assert (stats.sent, stats.received, stats.queued) == (
            self.sent, self.received, len(self.queue))
        assert (stats.capacity, stats.closed) == (self.capacity, self.closed)
        assert (stats.waiting_senders, stats.waiting_receivers) == (0, 0)
        assert len(self.channel) == len(self.queue)
        assert self.channel.closed == self.closed
        assert self.channel.capacity == self.capacity

    def teardown(self) -> None:
        self.channel.close()


# database=None: no .hypothesis directory in the work tree
ChannelModel.TestCase.settings = settings(
    max_examples=50, stateful_step_count=30, deadline=None, database=None
)
test_channel_against_its_model = ChannelModel.TestCase
