"""Node's messaging between threads: :class:`MessageChannel` with its two :class:`MessagePort` s,
:func:`receive_message_on_port` with :class:`Message`, and :class:`BroadcastChannel`.

A ``MessageChannel`` is two unbounded :class:`~ftpool.Channel` s, one per direction ("lanes"):
what ``port1`` posts goes into the lane ``port2`` receives from, and the other way round. Messages
are shared, not copied: threads share memory, so handing an object (or a port) to another thread
is the transfer.

Closing either port closes the whole channel, as in Node: posting on either port raises
:class:`ClosedError`; each port still receives what was posted to it before the close, then
:class:`EndOfChannel`; the ``"close"`` listeners of both ports fire once.

Listeners (``port.on("message", cb)``) run on one listener thread per port, started when the first
``"message"`` listener is added and ended when the port is closed (by either side) and everything
queued has been delivered. Callbacks run one at a time, in posting order; a raising callback is
reported through ``threading.excepthook`` (:func:`ftpool._events.report`) and delivery goes on.

Interpreter exit (Node's ref/unref of a port): a port keeps the process alive while it has a
``"message"`` listener and is open, and until its listener thread has delivered what was queued
before the close; a port whose ``"message"`` listeners were all removed with ``off`` does not.
The listener thread is a daemon thread that :func:`_python_exit` waits for on those terms, since
it may be blocked waiting for a message nobody will send.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from ._channel import _NOTHING_QUEUED, Channel, _as_list
from ._errors import ClosedError, EndOfChannel, PeerClosedError, WouldBlock
from ._events import Listeners
from ._timeouts import check_timeout, deadline, remaining
from ._wakeup import check_stop, stopping

__all__ = [
    "BroadcastChannel",
    "Message",
    "MessageChannel",
    "MessagePort",
    "receive_message_on_port",
]

_port_ids = itertools.count(1)  # next() is atomic: unique port numbers for names

# --- interpreter exit (see the module docstring) ---
_running: set[_Delivery] = set()  # deliveries whose listener thread has not finished
_running_lock = threading.Lock()  # guards _running


def _python_exit() -> None:
    """Runs once the main thread has returned, before Python joins the non-daemon threads: wait
    for every listener thread that still has a ``"message"`` listener to finish its port."""
    waited: set[_Delivery] = set()
    while True:  # again: a listener may have added a "message" listener on another port
        with _running_lock:
            deliveries = _running - waited
        if not deliveries:
            return
        for delivery in deliveries:
            delivery.wait_at_exit()
        waited |= deliveries


threading._register_atexit(_python_exit)  # type: ignore[attr-defined]


class _Delivery:
    """The listener thread of one receiving end (a MessagePort or a BroadcastChannel).

    The thread starts with the first ``"message"`` listener and iterates the inbox until it is
    closed and drained. While no ``"message"`` listener is registered (all were removed with
    ``off``) it holds the next message and waits for one to be added, so nothing is dropped; if the
    end closes meanwhile, the messages nobody listens to are discarded. ``"close"`` listeners fire
    once: on the listener thread after the last message, or, if there is no listener thread, in the
    thread that closed the channel. At interpreter exit it is waited for only while it has a
    ``"message"`` listener (:meth:`wait_at_exit`).
    """

    __slots__ = (
        "_close_fired",
        "_end_hooks",
        "_ended",
        "_finished",
        "_inbox",
        "_listener_added",
        "_listeners",
        "_lock",
        "_thread",
        "_thread_name",
    )

    def __init__(self, owner: str, thread_name: str, inbox: Channel[Any]) -> None:
        self._inbox = inbox
        self._listeners = Listeners(owner, ("message", "close"))
        self._thread_name = thread_name
        # _lock guards _thread, _close_fired, _finished and _end_hooks
        self._lock = threading.Lock()
        # notified when a "message" listener is added or removed, on close, and at the finish
        self._listener_added = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._close_fired = False
        self._finished = False  # the listener thread has fired "close" and its hooks
        self._end_hooks: list[Callable[[], None]] = []
        self._ended = threading.Event()  # the inbox was closed

    def on(self, event: str, callback: Callable[..., object]) -> None:
        self._listeners.add(event, callback)  # validates the event and the callback
        if event != "message":
            return
        with self._lock:
            self._listener_added.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=self._thread_name, daemon=True
                )
                with _running_lock:
                    _running.add(self)
                self._thread.start()

    def off(self, event: str, callback: Callable[..., object]) -> bool:
        removed = self._listeners.remove(event, callback)
        if removed and event == "message":
            with self._lock:
                self._listener_added.notify_all()  # wakes wait_at_exit() to let the process end
        return removed

    def wait_at_exit(self) -> None:
        """Block while the listener thread has not finished and a ``"message"`` listener is
        registered (as Node keeps the process alive for a port with one), so that everything
        posted before the close is delivered; return at once when nobody listens."""
        with self._lock:
            while not self._finished and self._listeners.has("message"):
                self._listener_added.wait()
            thread = self._thread if self._finished else None
        if thread is not None and thread is not threading.current_thread():
            thread.join()  # finishing: let it run the "close" listeners and end hooks

    def _run(self) -> None:
        listeners = self._listeners
        try:
            for message in self._inbox:
                # emit() reports a raising callback and goes on; it returns how many it called
                while not listeners.emit("message", message):
                    with self._lock:  # nobody listens: hold the message until somebody does
                        while not listeners.has("message") and not self._ended.is_set():
                            self._listener_added.wait()
                    if not listeners.has("message"):
                        break  # closed with nobody listening: discard
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            fire = not self._close_fired
            self._close_fired = True
            self._finished = True
            hooks, self._end_hooks = self._end_hooks, []
            self._listener_added.notify_all()
        with _running_lock:
            _running.discard(self)
        if fire:
            self._listeners.emit("close")
        for hook in hooks:
            hook()

    def ended(self) -> None:
        """The inbox was closed: fire "close" now unless the listener thread will do it."""
        self._ended.set()
        with self._lock:
            self._listener_added.notify_all()
            if self._thread is not None or self._close_fired:
                return
        self._finish()

    def after_drain(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` after the last message and the "close" listeners (on the listener thread
        if one is still delivering, otherwise now, in this thread)."""
        with self._lock:
            if self._thread is not None and not self._finished:
                self._end_hooks.append(hook)
                return
        hook()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the inbox was closed and the listener thread (if any) ended."""
        end = deadline(timeout)
        if not self._ended.wait(timeout):
            return False
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(remaining(end))
            return not thread.is_alive()
        return True


class _Link:
    """What the two ports of one MessageChannel share."""

    __slots__ = ("closed", "closed_by", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards closed and closed_by
        self.closed = False
        self.closed_by: MessagePort | None = None  # the port whose close() closed the channel


_CREATE: Final = object()


class MessagePort:
    """One end of a :class:`MessageChannel` (Node's ``MessagePort``). Not created directly.

    ``post_message`` never blocks; ``receive`` blocks until a message arrives (woken by the queue,
    never by polling); ``for msg in port`` yields until :class:`EndOfChannel`. ``on("message", cb)``
    delivers on the port's listener thread. ``close()`` closes both ends. See the module docstring.
    """

    __slots__ = ("__weakref__", "_delivery", "_in", "_link", "_name", "_out", "_peer")

    def __init__(
        self,
        token: object = None,
        inbox: Channel[Any] | None = None,
        outbox: Channel[Any] | None = None,
        link: _Link | None = None,
        name: str = "",
    ) -> None:
        if token is not _CREATE or inbox is None or outbox is None or link is None:
            raise TypeError("MessagePort cannot be created directly; use MessageChannel()")
        self._in = inbox
        self._out = outbox
        self._link = link
        self._name = name
        self._peer: MessagePort = self
        self._delivery = _Delivery("MessagePort", f"{name} listener", inbox)

    @property
    def closed(self) -> bool:
        """True once either port of the channel was closed."""
        return self._link.closed

    def post_message(self, message: Any) -> None:
        """Send ``message`` to the other port. Never blocks.

        The object is shared, not copied. Raises :class:`ClosedError` once either port is closed:
        :class:`PeerClosedError` (a subclass) when the peer port closed it, a plain
        :class:`ClosedError` when this port did. Raises :class:`Terminated` inside a terminated
        Worker.
        """
        try:
            self._out.send(message)  # an unbounded lane: never blocks
        except ClosedError:
            raise self._post_closed("post_message()") from None

    def _post_closed(self, call: str, detail: str = "") -> ClosedError:
        """The error of a post on this closed port: PeerClosedError when the peer closed it."""
        # close() records closed_by before it closes the lanes, so it is set by now (None:
        # only this direction was closed, at interpreter exit)
        closer = self._link.closed_by
        if closer is not None and closer is not self:
            return PeerClosedError(
                f"{call} on closed {self._name}: its peer {closer._name} closed the "
                f"MessageChannel{detail}; create a new MessageChannel"
            )
        return ClosedError(
            f"{call} on closed {self._name}: this port was closed "
            f"({'its close() was called' if closer is self else 'the interpreter is exiting'})"
            f"{detail}; create a new MessageChannel"
        )

    def post_messages(self, messages: Iterable[Any]) -> None:
        """Send every message of ``messages`` to the other port, in order, as ``post_message``
        would one by one, paying the call and the lock once for the batch. Never blocks.

        ``messages`` is read whole first (an iterable that raises posts nothing). Raises
        :class:`ClosedError` (:class:`PeerClosedError` when the peer closed it) once either port
        is closed: nothing is posted, the batch goes in whole or not at all. ``TypeError`` for
        something that is not iterable, :class:`Terminated` inside a terminated Worker.
        """
        batch = _as_list(messages, "MessagePort.post_messages")
        try:
            self._out.send_many(batch)  # an unbounded lane: all or nothing, never blocks
        except ClosedError:
            raise self._post_closed("post_messages()", ", nothing was posted") from None

    def receive(self, timeout: float | None = None) -> Any:
        """Block until a message arrives and return it.

        Raises :class:`EndOfChannel` once the channel is closed and every message posted to this
        port was received, ``TimeoutError`` after ``timeout`` seconds, ``ValueError`` for a negative
        timeout, :class:`Terminated` inside a terminated Worker (woken if blocked here; likewise
        ``Cancelled``/``TimeoutError`` in a cancelled or timed-out pool task).
        Receiving while ``"message"`` listeners are registered competes with them for messages.
        """
        try:
            return self._in.receive(timeout)
        except EndOfChannel:
            raise EndOfChannel(
                f"{self._name}: the MessageChannel is closed and every message was received"
            ) from None

    def receive_many(self, max_items: int, timeout: float | None = None) -> list[Any]:
        """Return at least one and at most ``max_items`` messages, in order: whatever is queued,
        waiting only when nothing is (see :meth:`Channel.receive_many`).

        After the close it returns the remaining messages first, then raises
        :class:`EndOfChannel`. ``TimeoutError`` after ``timeout`` seconds with nothing received;
        ``TypeError``/``ValueError`` for a bad ``max_items`` or timeout; woken and stopped as
        :meth:`receive`.
        """
        try:
            return self._in.receive_many(max_items, timeout)
        except EndOfChannel:
            raise EndOfChannel(
                f"{self._name}: the MessageChannel is closed and every message was received"
            ) from None

    async def receive_async(self, timeout: float | None = None) -> Any:
        """``await port.receive_async()``: :meth:`receive` for a coroutine, without blocking its
        event loop (see :meth:`Channel.receive_async`: woken by the posting thread through
        ``call_soon_threadsafe``; a cancelled receive loses no message). Raises
        :class:`EndOfChannel` once closed and drained, ``TimeoutError`` after ``timeout``."""
        try:
            return await self._in.receive_async(timeout)
        except EndOfChannel:
            raise EndOfChannel(
                f"{self._name}: the MessageChannel is closed and every message was received"
            ) from None

    def __aiter__(self) -> AsyncIterator[Any]:
        """``async for msg in port``: messages until the channel is closed and drained."""
        return self._in.__aiter__()

    def receive_nowait(self) -> Any:
        """Return a queued message without blocking; :class:`WouldBlock` when there is none,
        :class:`EndOfChannel` when the channel is closed and drained."""
        try:
            return self._in.receive_nowait()
        except WouldBlock:
            raise WouldBlock(_NOTHING_QUEUED.format(self._name)) from None
        except EndOfChannel:
            raise EndOfChannel(
                f"{self._name}: the MessageChannel is closed and every message was received"
            ) from None

    def __iter__(self) -> Iterator[Any]:
        """Yield messages until the channel is closed and drained."""
        return iter(self._in)

    def on(self, event: str, callback: Callable[..., object]) -> None:
        """Add a listener: ``"message"`` (called with each message) or ``"close"`` (no argument).

        The first ``"message"`` listener starts the port's listener thread, which delivers messages
        in order, one callback at a time, until the port is closed; a raising callback is reported
        through ``threading.excepthook`` and delivery continues. ``"close"`` listeners fire once,
        after the last message. As in Node, a port with a ``"message"`` listener keeps the process
        alive until it is closed (and what was posted before is delivered); once :meth:`off` has
        removed the last one, it no longer does. An unknown event raises
        ``ValueError``; a non-callable ``TypeError``.
        """
        self._delivery.on(event, callback)

    def off(self, event: str, callback: Callable[..., object]) -> bool:
        """Remove a listener added with :meth:`on`; returns False if it was not registered.
        While no ``"message"`` listener is left, messages wait for the next one."""
        return self._delivery.off(event, callback)

    def close(self) -> None:
        """Close the channel, both ports. Idempotent; never blocks.

        Posting on either port then raises :class:`ClosedError`. Each port still receives what was
        posted to it before, then :class:`EndOfChannel`; listener threads deliver what is queued,
        fire ``"close"`` and end (see :meth:`wait_closed`).
        """
        link = self._link
        with link.lock:
            if link.closed:
                return
            link.closed = True
            link.closed_by = self
        self._out.close()
        self._in.close()
        self._delivery.ended()
        self._peer._delivery.ended()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the channel is closed (by either port) and this port's listener thread, if
        it has one, has delivered everything and ended. Returns False if ``timeout`` expired."""
        return self._delivery.join(check_timeout(timeout, "MessagePort.wait_closed"))

    def _close_sending(self) -> None:
        """Close only the direction this port posts in: the peer receives what was posted, then
        :class:`EndOfChannel`; posting here raises :class:`ClosedError`; the peer can still post
        to this port. (At interpreter exit, every Worker's creator side is closed so.)"""
        self._out.close()

    def _after_drain(self, hook: Callable[[], None]) -> None:
        self._delivery.after_drain(hook)

    def _listener_thread(self) -> threading.Thread | None:
        return self._delivery.thread

    def _select_channel(self) -> Channel[Any]:
        return self._in

    def __repr__(self) -> str:
        state = " closed" if self._link.closed else ""
        return f"<MessagePort {self._name}{state}>"


class MessageChannel:
    """Two connected :class:`MessagePort` s (Node's ``MessageChannel``).

    ``ch.port1`` and ``ch.port2``; it unpacks: ``a, b = MessageChannel()``. What one port posts the
    other receives, in order, in both directions. Hand a port to another thread through
    ``Worker(data=...)`` or inside a message. ``name`` (optional) names the ports
    (``<name>.port1``) and their listener threads; a name that is not a str raises ``TypeError``.
    """

    __slots__ = ("port1", "port2")

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(
                f"MessageChannel(name): name must be a str (it names the ports and their listener "
                f"threads) or None, got {type(name).__name__}"
            )
        base = name or f"MessageChannel-{next(_port_ids)}"
        self.port1, self.port2 = _port_pair(f"{base}.port1", f"{base}.port2")

    def __iter__(self) -> Iterator[MessagePort]:
        return iter((self.port1, self.port2))

    def __repr__(self) -> str:
        return f"<MessageChannel {self.port1!r} {self.port2!r}>"


def _port_pair(name1: str, name2: str) -> tuple[MessagePort, MessagePort]:
    """Two connected ports with these names (their listener threads are "<name> listener")."""
    one_to_two: Channel[Any] = Channel()
    two_to_one: Channel[Any] = Channel()
    link = _Link()
    port1 = MessagePort(_CREATE, two_to_one, one_to_two, link, name1)
    port2 = MessagePort(_CREATE, one_to_two, two_to_one, link, name2)
    port1._peer = port2
    port2._peer = port1
    return port1, port2


@dataclass(frozen=True, slots=True)
class Message:
    """A message taken by :func:`receive_message_on_port` (Node: ``{ message }``)."""

    message: Any


def receive_message_on_port(port: Any) -> Message | None:
    """Node's ``receiveMessageOnPort``: a queued message wrapped in :class:`Message`, or None.

    Never blocks. Returns None when nothing is queued, and also when the channel is closed and
    drained (as Node does; use ``port.receive_nowait()`` to tell the two apart). Accepts a
    :class:`MessagePort` or a :class:`BroadcastChannel`; anything else raises ``TypeError``.
    Raises :class:`Terminated` inside a terminated Worker.
    """
    if not isinstance(port, MessagePort | BroadcastChannel):
        raise TypeError(
            f"receive_message_on_port() takes a MessagePort or BroadcastChannel, "
            f"got {type(port).__name__}"
        )
    try:
        return Message(port.receive_nowait())
    except (WouldBlock, EndOfChannel):
        return None


# --------------------------------------------------------------------------------------------
# BroadcastChannel
# --------------------------------------------------------------------------------------------

_groups: dict[str, tuple[BroadcastChannel, ...]] = {}
_groups_lock = threading.Lock()  # guards _groups; its tuples are replaced, never changed


class BroadcastChannel:
    """One-to-many messaging by name (Node's ``BroadcastChannel``).

    ``BroadcastChannel(name)``: every *other* open instance with the same name receives each
    message posted on this one (not the poster itself). ``post_message`` never blocks and raises
    :class:`ClosedError` after :meth:`close`. ``receive``, ``receive_nowait``, ``for msg in bc`` and
    ``on("message"/"close", cb)`` behave as on a :class:`MessagePort`. ``close()`` leaves the group:
    messages already delivered to this instance can still be received, then
    :class:`EndOfChannel`. ``with BroadcastChannel(name) as bc:`` closes it on exit.
    """

    __slots__ = ("__weakref__", "_closed", "_delivery", "_inbox", "_name")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(
                f"BroadcastChannel(name): name must be a str, got {type(name).__name__}"
            )
        self._name = name
        self._closed = False
        self._inbox: Channel[Any] = Channel()
        self._delivery = _Delivery(
            "BroadcastChannel", f"BroadcastChannel {name!r} listener", self._inbox
        )
        with _groups_lock:
            _groups[name] = (*_groups.get(name, ()), self)

    @property
    def name(self) -> str:
        """The channel name given at creation."""
        return self._name

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def post_message(self, message: Any) -> None:
        """Deliver ``message`` to every other open instance with this name. Never blocks.

        Raises :class:`ClosedError` after :meth:`close`, :class:`Terminated` in a terminated Worker.
        """
        if stopping:
            check_stop()
        if self._closed:
            raise ClosedError(
                f"post_message() on closed BroadcastChannel {self._name!r}: this object was "
                f"closed (its close() left the group); create a new one"
            )
        for other in _groups.get(self._name, ()):
            if other is not self:
                with contextlib.suppress(ClosedError):  # it is closing: it left the group
                    other._inbox.send(message)

    def post_messages(self, messages: Iterable[Any]) -> None:
        """Deliver every message of ``messages``, in order, to every other open instance with
        this name, one batch per instance (see :meth:`MessagePort.post_messages`). Never blocks.

        ``messages`` is read whole first (an iterable that raises posts nothing). Raises
        :class:`ClosedError` after :meth:`close` (nothing posted), ``TypeError`` for something
        that is not iterable, :class:`Terminated` in a terminated Worker.
        """
        batch = _as_list(messages, "BroadcastChannel.post_messages")
        if stopping:
            check_stop()
        if self._closed:
            raise ClosedError(
                f"post_messages() on closed BroadcastChannel {self._name!r}: this object was "
                f"closed (its close() left the group), nothing was posted; create a new one"
            )
        for other in _groups.get(self._name, ()):
            if other is not self:
                with contextlib.suppress(ClosedError):  # it is closing: it left the group
                    other._inbox.send_many(batch)

    def receive(self, timeout: float | None = None) -> Any:
        """Block until a message arrives; see :meth:`MessagePort.receive`."""
        try:
            return self._inbox.receive(timeout)
        except EndOfChannel:
            raise EndOfChannel(
                f"BroadcastChannel {self._name!r} is closed and every message was received"
            ) from None

    def receive_many(self, max_items: int, timeout: float | None = None) -> list[Any]:
        """At least one and at most ``max_items`` messages; see :meth:`MessagePort.receive_many`."""
        try:
            return self._inbox.receive_many(max_items, timeout)
        except EndOfChannel:
            raise EndOfChannel(
                f"BroadcastChannel {self._name!r} is closed and every message was received"
            ) from None

    async def receive_async(self, timeout: float | None = None) -> Any:
        """``await bc.receive_async()``; see :meth:`MessagePort.receive_async`."""
        try:
            return await self._inbox.receive_async(timeout)
        except EndOfChannel:
            raise EndOfChannel(
                f"BroadcastChannel {self._name!r} is closed and every message was received"
            ) from None

    def __aiter__(self) -> AsyncIterator[Any]:
        """``async for msg in bc``: messages until this instance is closed and drained."""
        return self._inbox.__aiter__()

    def receive_nowait(self) -> Any:
        """A queued message, or :class:`WouldBlock`; :class:`EndOfChannel` once closed and
        drained."""
        try:
            return self._inbox.receive_nowait()
        except WouldBlock:
            raise WouldBlock(_NOTHING_QUEUED.format(f"BroadcastChannel {self._name!r}")) from None
        except EndOfChannel:
            raise EndOfChannel(
                f"BroadcastChannel {self._name!r} is closed and every message was received"
            ) from None

    def __iter__(self) -> Iterator[Any]:
        """Yield messages until this instance is closed and drained."""
        return iter(self._inbox)

    def on(self, event: str, callback: Callable[..., object]) -> None:
        """Add a ``"message"`` or ``"close"`` listener; see :meth:`MessagePort.on`."""
        self._delivery.on(event, callback)

    def off(self, event: str, callback: Callable[..., object]) -> bool:
        """Remove a listener; returns False if it was not registered."""
        return self._delivery.off(event, callback)

    def close(self) -> None:
        """Leave the group and stop receiving new messages. Idempotent; never blocks."""
        with _groups_lock:
            if self._closed:
                return
            self._closed = True
            rest = tuple(other for other in _groups.get(self._name, ()) if other is not self)
            if rest:
                _groups[self._name] = rest
            else:
                _groups.pop(self._name, None)
        self._inbox.close()
        self._delivery.ended()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until this instance is closed and its listener thread (if any) has delivered
        everything and ended. Returns False if ``timeout`` expired."""
        return self._delivery.join(check_timeout(timeout, "BroadcastChannel.wait_closed"))

    def _select_channel(self) -> Channel[Any]:
        return self._inbox

    def __enter__(self) -> BroadcastChannel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<BroadcastChannel {self._name!r}{state}>"
