"""The part of :class:`~ftpool.dask.DaskPool` that runs in the Dask worker processes: the task
wrapper (:func:`execute`), the per-process cached copy of each pool's cancel record, and the
cancel token a running task sees through ``check_cancelled()``.

The client pickles ``execute`` by reference, so the workers import this module: install ftpool on
them. Nothing here runs in the client process.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import distributed
from distributed import Variable

from .._context import CancelToken, ThreadState, current_state, new_thread_id, set_state
from .._errors import Cancelled
from .._pool.task import ChunkResult, ChunkTask

__all__ = ["ALL_TASKS", "CANCEL_REFRESH_SECONDS", "REFRESH_TIMEOUT", "execute", "started_topic"]

#: A task's ``check_cancelled()`` refreshes its process's copy of the cancel record at most this
#: often (seconds); between refreshes it reads the cached copy (a dict lookup).
CANCEL_REFRESH_SECONDS = 0.005
#: How long a refresh waits for the scheduler before keeping the old copy (seconds).
REFRESH_TIMEOUT = 1.0
#: The cancel record key that cancels every task of the pool (``terminate()``).
ALL_TASKS = "*"

_monotonic = time.monotonic


class _CancelRecord:
    """One pool's cancel record as seen by one worker process: a cached copy of the pool's
    ``Variable``, refreshed at most every :data:`CANCEL_REFRESH_SECONDS`."""

    __slots__ = ("_variable", "entries", "lock", "name", "refreshed")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()  # held by the one thread refreshing; never waited for
        self.entries: Mapping[str, Any] = {}
        self.refreshed = -1e9
        self._variable: Variable | None = None

    def peek(self, key: str) -> object:
        """The reason ``key`` (or every task) was cancelled, from the cached copy; None if not."""
        entries = self.entries
        entry = entries.get(key) or entries.get(ALL_TASKS)
        return None if entry is None else entry[0]

    def lookup(self, key: str, now: float) -> object:
        """As :meth:`peek`, refreshing the copy first when it is stale at ``now`` (monotonic)
        and no other thread of this process is refreshing it (then the stale copy answers: no
        waiting)."""
        if now - self.refreshed >= CANCEL_REFRESH_SECONDS and self.lock.acquire(False):
            try:
                self._refresh()
            finally:
                self.lock.release()
        return self.peek(key)

    def _refresh(self) -> None:
        try:
            variable = self._variable
            if variable is None:
                variable = self._variable = Variable(self.name, client=distributed.get_client())
            value = variable.get(timeout=REFRESH_TIMEOUT)
        except Exception:  # unreachable scheduler, deleted record: keep the last copy
            value = None
        if isinstance(value, dict):
            self.entries = value
        self.refreshed = _monotonic()


_records: dict[str, _CancelRecord] = {}
_records_lock = threading.Lock()  # guards _records


def _record_for(name: str) -> _CancelRecord:
    record = _records.get(name)
    if record is None:
        with _records_lock:
            record = _records.setdefault(name, _CancelRecord(name))
    return record


class RemoteToken(CancelToken):
    """The ``task_token`` of a task running on a Dask worker: a :class:`~ftpool.CancelToken`
    that also becomes cancelled when the pool's cancel record names its task (seen within
    :data:`CANCEL_REFRESH_SECONDS`) or when its ``timeout=`` deadline passes."""

    __slots__ = ("_deadline", "_key", "_record", "_timeout")
    _polled = True  # check_cancelled() reads `cancelled`, which refreshes the cancel record

    def __init__(
        self, record: _CancelRecord, key: str, deadline: float | None, timeout: float | None
    ) -> None:
        super().__init__()
        self._record = record
        self._key = key
        self._deadline = deadline
        self._timeout = timeout

    @property
    def cancelled(self) -> bool:
        """True once the task is cancelled or past its deadline; refreshes the record cheaply."""
        if self._cancelled:
            return True
        now = _monotonic()
        deadline = self._deadline
        if deadline is not None and now >= deadline:
            self.cancel(_timeout_error(self._timeout))
            return True
        reason = self._record.lookup(self._key, now)
        if reason is not None:
            self.cancel(reason)
            return True
        return False

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~ftpool.Cancelled` once :attr:`cancelled` is True."""
        if self.cancelled:
            raise Cancelled(self._reason)


def _timeout_error(timeout: float | None) -> TimeoutError:
    return TimeoutError(f"the task ran longer than its timeout of {timeout} s and was cancelled")


class _WorkerLocal(threading.local):
    state: ThreadState | None = None  # this Dask worker thread's ftpool state (a stable id)


_worker_local = _WorkerLocal()


def execute(
    spec: tuple[str, str, float | None, bool], fn: Callable[..., Any], args: Any, kwargs: Any
) -> tuple[bool, Any, float]:
    """Run one pool task on a Dask worker thread; returns ``(ok, result or exception, run time
    in seconds)``; ``spec`` is ``(cancel record name, task key, timeout, chunk)``. The task's
    exception is returned, not raised (with the worker's traceback as a note): Dask then logs
    nothing, and sends it back with the result.

    For a chunk (``chunk=True``), ``args`` is ``(items, star)`` and the result a ``ChunkResult``.
    The exception is ``TimeoutError`` when the task ran past its ``timeout=``, ``Cancelled`` when
    it was cancelled (the client has already ended its future then).
    """
    record_name, key, timeout, chunk = spec
    record = _record_for(record_name)
    state = _worker_local.state
    if state is None:
        state = _worker_local.state = ThreadState(new_thread_id())
    previous = current_state()
    started = _monotonic()
    deadline = None if timeout is None else started + timeout
    if timeout is not None:  # the client times the task from now (see DaskPool._on_started)
        with contextlib.suppress(Exception):
            distributed.get_worker().log_event(started_topic(record_name), key)
    token = RemoteToken(record, key, deadline, timeout)
    state.task_token = token
    state.task_deadline = deadline
    set_state(state)
    try:
        reason = record.peek(key)  # cancelled while it waited (no refresh: no round trip)
        if reason is not None:
            raise Cancelled(reason)
        result = _run_chunk(token, fn, *args) if chunk else fn(*args, **kwargs)
    except Exception as exc:
        elapsed = _monotonic() - started
        if isinstance(exc, concurrent.futures.CancelledError) and (
            (token._cancelled and isinstance(token._reason, TimeoutError))
            or (deadline is not None and _monotonic() >= deadline)  # check_cancelled()'s clock
        ):
            return False, _timeout_error(timeout), elapsed
        exc.add_note(_remote_traceback(exc))
        return False, exc, elapsed
    finally:
        state.task_token = None
        state.task_deadline = None
        set_state(previous)
    elapsed = _monotonic() - started
    if deadline is not None and elapsed > timeout:  # type: ignore[operator]
        return False, _timeout_error(timeout), elapsed
    return True, result, elapsed


def started_topic(record_name: str) -> str:
    """The scheduler event topic where a pool's tasks with a ``timeout=`` announce their start."""
    return f"{record_name}-started"


def _remote_traceback(exc: BaseException) -> str:
    try:
        where = distributed.get_worker().address
    except ValueError:
        where = "?"
    text = "".join(traceback.format_exception(exc)).rstrip()
    return f"(ftpool: raised on the Dask worker {where}; its traceback there:)\n{text}"


def _run_chunk(
    token: RemoteToken, fn: Callable[..., Any], items: list[Any], star: bool
) -> ChunkResult:
    """A ``map`` chunk on the worker: as ``ChunkTask.execute``, checking ``token`` between
    slices of ``ChunkTask.CHECK_EVERY`` items."""
    out: list[Any] = []
    extend = out.extend
    apply: Callable[..., Any] = itertools.starmap if star else map
    step = ChunkTask.CHECK_EVERY
    try:
        for start in range(0, len(items), step):
            if token.cancelled:
                raise Cancelled(token.reason)
            extend(apply(fn, items[start : start + step]))
    except BaseException as exc:
        if token._cancelled and isinstance(exc, concurrent.futures.CancelledError):
            raise
        return out, exc
    return out, None


