"""``Worker``: Node's ``new Worker()`` for a function, on a real ``threading.Thread``.

The thread starts at once and runs ``target(*args, **kwargs)`` with a thread context installed
(:func:`~ftpool.thread_id`, :func:`~ftpool.worker_data`, :func:`~ftpool.parent_port`). Creator and
worker talk through a :class:`~ftpool.MessageChannel`: the Worker object is the creator's end
(``post_message``, ``receive``, ``for msg in w``, ``on("message")``), ``parent_port()`` the
worker's. When the target ends, the worker's port is closed: the creator receives what the worker
posted, then :class:`~ftpool.EndOfChannel`.

Python cannot kill a thread, so ``terminate()`` is cooperative: it cancels the worker's ``stop``
token; the worker's next ftpool call (``receive``, ``post_message``, ``send``, ``select``,
``check_cancelled()`` ...) raises :class:`~ftpool.Terminated`, and a worker blocked in one of them
is woken at once to raise it. A worker that ends by raising ``Terminated`` after ``terminate()``
exits with code 1 (Node's exit code for a terminated worker) and is not reported as an error.

Interpreter exit (as ``concurrent.futures`` stops its executors): once the main thread has
returned, every Worker's creator side is closed for sending, so a worker waiting for work from
its creator does not keep the process alive forever. The worker still receives everything that
was posted to it, then :class:`~ftpool.EndOfChannel`: ``for msg in parent_port()`` ends, and an
``EndOfChannel`` that ends the target from then on is a normal end (exit code 0, not an error).
The worker can still post to its creator ("message" listeners deliver it all before the process
exits). A worker blocked elsewhere (a Channel nobody closes, a long computation) is waited for,
as Python waits for any non-daemon thread.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any

from ._channel import Channel, _check_timeout, _deadline, _remaining, _Waker
from ._context import ThreadState, new_thread_id, set_state
from ._errors import ClosedError, EndOfChannel, PeerClosedError, Terminated
from ._events import Listeners, report
from ._immortal import run_copy
from ._port import _port_pair

__all__ = ["Worker"]

#: Exit code of a Worker that ended by raising Terminated after terminate() (Node uses 1 too).
TERMINATED_EXIT_CODE = 1

_EVENTS = ("online", "message", "error", "exit")

# --- interpreter exit (see the module docstring) ---
_live: weakref.WeakSet[Worker] = weakref.WeakSet()  # Workers whose thread may still run
_interpreter_exiting = False
_live_lock = threading.Lock()  # guards _live and _interpreter_exiting


def _python_exit() -> None:
    """Runs once the main thread has returned, before Python joins the non-daemon threads."""
    global _interpreter_exiting
    with _live_lock:
        _interpreter_exiting = True
        workers = list(_live)
    for worker in workers:
        worker._close_at_exit()


threading._register_atexit(_python_exit)  # type: ignore[attr-defined]


class Worker:
    """A worker thread running ``target(*args, **kwargs)``, started at once (Node: ``new Worker``).

    ``data=`` is what :func:`~ftpool.worker_data` returns inside it; ``name=`` names the thread
    (default ``ftpool-worker-<thread_id>``). A non-callable ``target`` raises ``TypeError`` here.

    Events (``w.on(event, cb)``):

    * ``"online"`` (no argument): the thread started, before ``target`` runs; on the worker thread.
    * ``"message"`` (the message): each message the worker posts, on this Worker's listener
      thread, in order; a raising callback is reported and delivery goes on.
    * ``"error"`` (the exception): ``target`` raised. With no ``"error"`` listener the exception
      goes to ``threading.excepthook`` (never silent). Always kept in :attr:`exception`.
    * ``"exit"`` (the exit code): after the last ``"message"`` and the ``"error"`` callbacks.

    ``"error"`` and ``"exit"`` run on the listener thread if there is one, else on the worker
    thread. These three are state events: a listener added after the event happened is called at
    once, in the caller's thread, so an event cannot be missed because the thread started first.

    Exit codes: 0 when ``target`` returned, 1 when it raised (including :class:`Terminated` after
    :meth:`terminate`, which is not an error), ``n`` for ``sys.exit(n)`` inside the worker (as
    ``process.exit(n)`` in a Node worker; not an error either).

    A coroutine function (``async def``) as ``target`` runs under its own event loop:
    ``asyncio.run(target(*args, **kwargs))`` in the worker's thread, as every Node worker has a
    loop. :meth:`terminate` then cancels the main task (thread-safely, through the loop): the
    coroutine gets ``asyncio.CancelledError`` at its current ``await`` and, if it lets it end
    the run, the worker exits with code 1, not an error. The worker's ``parent_port()`` is
    closed when the main coroutine ends, before ``asyncio.run`` cleans up, so a
    ``port.receive()`` still running in ``asyncio.to_thread`` returns (``EndOfChannel``) instead
    of holding the loop's executor. Other tasks still running then are cancelled by
    ``asyncio.run``, as usual.
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_closed_at_exit",
        "_exception",
        "_exit_code",
        "_finished",
        "_kwargs",
        "_listeners",
        "_lock",
        "_name",
        "_online",
        "_port",
        "_reported",
        "_state",
        "_target",
        "_thread",
        "_waker",
    )

    def __init__(
        self,
        target: Callable[..., object],
        *args: Any,
        data: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(target):
            raise TypeError(
                f"Worker(target): target must be callable (a function to run in the thread), "
                f"got {type(target).__name__}"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Worker(name=): name must be a str or None, got {type(name).__name__}")
        thread_id = new_thread_id()
        self._name = name or f"ftpool-worker-{thread_id}"
        creator_port, worker_port = _port_pair(f"{self._name}/creator", f"{self._name}/worker")
        self._port = creator_port
        self._state = ThreadState(thread_id=thread_id, data=data, port=worker_port)
        self._waker = _Waker(self._state.stop, thread_id)
        self._state.stop.add_callback(self._waker.wake)
        self._target: Callable[..., object] | None = target
        self._args: tuple[Any, ...] = args
        self._kwargs: dict[str, Any] = kwargs
        self._listeners = Listeners("Worker", _EVENTS)
        # _lock guards _online, _finished, _exit_code, _exception, _reported and the addition of
        # "online"/"error"/"exit" listeners (so that each is called exactly once)
        self._lock = threading.Lock()
        self._online = False
        self._finished = False  # "error"/"exit" were emitted
        self._exit_code: int | None = None
        self._exception: BaseException | None = None
        self._reported = False
        self._closed_at_exit = False
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=False)
        with _live_lock:
            _live.add(self)
            exiting = _interpreter_exiting
        if exiting:  # created during interpreter exit: nothing more can be posted to it
            self._close_at_exit()
        self._thread.start()

    def _close_at_exit(self) -> None:
        self._closed_at_exit = True
        self._port._close_sending()

    # ---------------------------------------------------------------- the worker thread

    def _run(self) -> None:
        state = self._state
        set_state(state)
        self._waker.install()
        code = 0
        error: BaseException | None = None
        try:
            with self._lock:
                self._online = True
                online = self._listeners.get("online")
            for callback in online:
                self._call(callback, "online")
            assert self._target is not None
            target = run_copy(self._target)  # same behaviour, constants immortal (see _immortal)
            result = target(*self._args, **self._kwargs)
            if isinstance(result, Coroutine):  # an async def target: run it under its own loop
                from ._aio import run_worker_coroutine  # noqa: PLC0415 - only async workers

                run_worker_coroutine(result, state.stop, state.port)
            del result
        except Terminated as exc:
            code = TERMINATED_EXIT_CODE
            if not state.stop.cancelled:
                error = exc  # raised by the target itself, not by terminate(): an error
        except EndOfChannel as exc:
            if not self._closed_at_exit:
                code = 1
                error = exc
            # else: its creator side was closed at interpreter exit: a normal end (code 0)
        except SystemExit as exc:
            code = _exit_code_of(exc)
        except BaseException as exc:
            code = 1
            error = exc
        finally:
            self._target = None  # no reference cycles through the arguments
            self._args = ()
            self._kwargs = {}
            self._waker.uninstall()
            set_state(None)
            with _live_lock:
                _live.discard(self)
            with self._lock:
                self._exit_code = code
                self._exception = error
            # The creator receives what was posted, then EndOfChannel; its listener thread (if any)
            # delivers the rest and then runs _emit_end.
            if state.port is not None:
                state.port.close()
            self._port._after_drain(self._emit_end)

    def _emit_end(self) -> None:
        with self._lock:
            self._finished = True
            error = self._exception
            code = self._exit_code
            on_error = self._listeners.get("error")
            on_exit = self._listeners.get("exit")
            if error is not None and not on_error:
                self._reported = True
        if error is not None:
            if on_error:
                for callback in on_error:
                    self._call(callback, "error", error)
            else:
                report(error, f"Worker {self._name!r} (no 'error' listener)")
        for callback in on_exit:
            self._call(callback, "exit", code)

    def _call(self, callback: Callable[..., object], event: str, *args: Any) -> None:
        try:
            callback(*args)
        except Exception as exc:
            report(exc, f"Worker {self._name!r} {event!r} listener {callback!r}")

    # ---------------------------------------------------------------- the creator's side

    @property
    def name(self) -> str:
        """The thread's name."""
        return self._name

    @property
    def thread_id(self) -> int:
        """The worker's :func:`~ftpool.thread_id` (unique, increasing, from 1)."""
        return self._state.thread_id

    @property
    def exception(self) -> BaseException | None:
        """The exception ``target`` raised (None while running, after success, after
        ``sys.exit`` and after a Terminated caused by :meth:`terminate`)."""
        return self._exception

    @property
    def exit_code(self) -> int | None:
        """The exit code once the target ended (see the class docstring), None before."""
        return self._exit_code

    def is_alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread.is_alive()

    def post_message(self, message: Any) -> None:
        """Send ``message`` to the worker (it gets it from ``parent_port()``). Never blocks.

        Raises :class:`PeerClosedError` (a :class:`ClosedError`) once the worker has exited or
        closed its ``parent_port()``, and a plain :class:`ClosedError` once the interpreter is
        exiting (see the module docstring).
        """
        try:
            self._port.post_message(message)
        except PeerClosedError:
            # the worker sets its exit code before its end closes the port
            why = ("has exited" if self._exit_code is not None
                   else "closed its parent_port() and takes no more messages")
            raise PeerClosedError(
                f"post_message() to Worker {self._name!r}: the worker {why}; start a new one"
            ) from None
        except ClosedError:
            raise ClosedError(
                f"post_message() to Worker {self._name!r}: the interpreter is exiting, so no "
                f"Worker takes messages any more"
            ) from None

    def receive(self, timeout: float | None = None) -> Any:
        """Block until the worker posts a message and return it.

        Raises :class:`~ftpool.EndOfChannel` once the worker has exited and its messages were
        received, ``TimeoutError`` after ``timeout`` seconds, ``ValueError`` for a negative one.
        """
        return self._port.receive(timeout)

    def receive_nowait(self) -> Any:
        """A message the worker posted, without blocking (:class:`~ftpool.WouldBlock` if none)."""
        return self._port.receive_nowait()

    def __iter__(self) -> Iterator[Any]:
        """Yield the worker's messages until it has exited and all were received."""
        return iter(self._port)

    def on(self, event: str, callback: Callable[..., object]) -> None:
        """Add a listener for ``"online"``, ``"message"``, ``"error"`` or ``"exit"``.

        See the class docstring for arguments and threads. An unknown event raises ``ValueError``
        listing the valid ones; a non-callable callback ``TypeError``.
        """
        self._listeners.check(event, callback)
        if event == "message":
            self._port.on("message", callback)
            return
        now: tuple[Any, ...] | None = None
        with self._lock:
            self._listeners.add(event, callback)
            if event == "online" and self._online:
                now = ()
            elif event == "exit" and self._finished:
                now = (self._exit_code,)
            elif event == "error" and self._finished and self._exception is not None:
                now = (self._exception,)
        if now is not None:
            self._call(callback, event, *now)

    def off(self, event: str, callback: Callable[..., object]) -> bool:
        """Remove a listener added with :meth:`on`; returns False if it was not registered."""
        self._listeners.check(event, callback)
        if event == "message":
            return self._port.off("message", callback)
        return self._listeners.remove(event, callback)

    def join(self, timeout: float | None = None) -> int | None:
        """Wait until the worker has exited and its events were delivered; returns the exit code,
        or None if ``timeout`` seconds passed first.

        Called from a listener callback of this worker, it waits for the thread only (the
        listener thread cannot wait for itself); from an ``"error"``/``"exit"`` listener that runs
        on the worker thread it returns the exit code at once. Raises ``RuntimeError`` when the
        target itself calls it.
        """
        _check_timeout(timeout, "Worker.join")
        if threading.current_thread() is self._thread:
            if self._exit_code is not None:  # from an "error"/"exit" listener on this thread
                return self._exit_code
            raise RuntimeError(
                f"Worker.join() called from inside worker {self._name!r}; it cannot wait for itself"
            )
        deadline = _deadline(timeout)
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        for port in (self._port, self._state.port):
            if port is not None and not port._delivery.join(_remaining(deadline)):
                return None
        return self._exit_code

    def terminate(self, timeout: float | None = None) -> int:
        """Ask the worker to stop and wait until it has exited; returns its exit code.

        Cooperative: the worker's next ftpool call (or the one it is blocked in) raises
        :class:`Terminated`; if it lets that end it, the exit code is 1. A worker that is busy in
        pure Python code stops at its next ftpool call or ``check_cancelled()``. Raises
        ``TimeoutError`` if it has not exited after ``timeout`` seconds (it stays asked to stop).
        Called from inside the worker itself, raises :class:`Terminated` at once.
        """
        _check_timeout(timeout, "Worker.terminate")
        self._state.stop.cancel("Worker.terminate() was called")
        if threading.current_thread() is self._thread:
            if self._exit_code is not None:  # from an "error"/"exit" listener on this thread
                return self._exit_code
            raise Terminated(
                f"worker {self.thread_id} terminated itself; let this exception end the worker"
            )
        code = self.join(timeout)
        if code is None:
            raise TimeoutError(
                f"Worker {self._name!r} did not exit within {timeout} s of terminate(): it has "
                f"not called an ftpool function or check_cancelled() since; it stops at its next"
            )
        return code

    def _select_channel(self) -> Channel[Any]:
        return self._port._select_channel()

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """``with Worker(...) as w:`` joins the worker on exit; terminates it first if the block
        raised."""
        if exc is not None and threading.current_thread() is not self._thread:
            self.terminate()
        else:
            self.join()

    def __repr__(self) -> str:
        if self._thread.is_alive():
            state = "running"
        elif self._exit_code is not None:
            state = f"exited code={self._exit_code}"
        else:
            state = "starting"
        return f"<Worker {self._name!r} thread_id={self.thread_id} {state}>"


def _exit_code_of(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    return 1
