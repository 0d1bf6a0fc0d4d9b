"""The client side of :class:`~ftpool.dask.DaskPool`: the executor façade, the futures and their
completion, cancelling, closing, handlers, events and stats. What runs on the workers is in
``ftpool.dask.remote``; what is honoured only in part is listed in ``ftpool.dask``'s docstring.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import pickle
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, NoReturn, ParamSpec, TypeVar, overload

import cloudpickle  # a dependency of distributed
import dask
import distributed
from distributed import Variable

from .._context import CancelToken
from .._errors import FtpoolError, QueueFull
from .._events import Listeners, report
from .._pool.core import PoolClosedError
from .._pool.map import check_map_arguments
from .._pool.map import imap_unordered as _imap_unordered
from .._pool.map import map_ordered as _map_ordered
from .._pool.pool import UnknownHandlerError
from .._pool.stats import PoolStats, TimingSummary, WorkerCounters
from .._pool.task import FUTURE_CANCEL_REASON, ChunkTask, PoolFuture, Task
from .._runtime import free_threaded_build, usable_cores
from .._timeouts import check_timeout
from .remote import ALL_TASKS, REFRESH_TIMEOUT, execute, started_topic

__all__ = ["CONNECT_TIMEOUT", "DaskPool", "TaskLost", "local_cluster"]

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EVENTS = ("drain", "worker_create", "worker_exit", "error")

#: Cancel-record entries older than this are dropped at the next write (seconds): the record stays
#: small, and a task still running that long after its cancel has had many checks to see it.
CANCEL_RECORD_TTL = 300.0
#: ``DaskPool(address)`` waits this long for the scheduler by default (seconds).
CONNECT_TIMEOUT = 10.0

TERMINATE_REASON = "DaskPool.terminate() was called"
CANCEL_FUTURES_REASON = "the pool was shut down with cancel_futures=True"


# --- interpreter exit -----------------------------------------------------------------------------
# As concurrent.futures and ftpool.Pool do: once the main thread returns, no pool takes new work
# and every live pool waits for the tasks submitted to it, then releases its client. Hooks of
# threading._register_atexit run last-registered first, so this one runs before concurrent.futures
# stops the thread pools that distributed (its offload executor, an in-process scheduler) needs.

_live_pools: weakref.WeakSet[DaskPool] = weakref.WeakSet()
_live_lock = threading.Lock()  # guards _live_pools and _interpreter_exiting
_interpreter_exiting = False


def _python_exit() -> None:
    global _interpreter_exiting
    with _live_lock:
        _interpreter_exiting = True
        pools = list(_live_pools)
    for pool in pools:
        pool.shutdown(wait=True)


threading._register_atexit(_python_exit)  # type: ignore[attr-defined]


class TaskLost(FtpoolError):
    """The cluster dropped a task without a result or an error: the scheduler connection was
    lost, the cluster was restarted, or another client cancelled the key. Run it again (on a
    new pool if this one's client is closed)."""


def _describe(obj: object) -> str:
    text = repr(obj)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(obj).__name__} {text}"


def _unpicklable(
    fn: object, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> TypeError | None:
    """A clear ``TypeError`` naming which of the call's parts cannot be sent to the cluster
    (None when each can be pickled: the submit failed for another reason)."""
    parts: list[tuple[str, object]] = [("the function", fn)]
    parts += [(f"argument {index}", arg) for index, arg in enumerate(args)]
    parts += [(f"keyword argument {name!r}", value) for name, value in kwargs.items()]
    for label, obj in parts:
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:
            return TypeError(
                f"cannot send {label} ({_describe(obj)}) to the Dask cluster: it cannot be "
                f"pickled ({type(exc).__name__}: {exc}). Tasks and their arguments travel to "
                "other processes: pass picklable data (create locks, files and connections "
                "inside the task)"
            )
    return None


class DaskPool(concurrent.futures.Executor):
    """An executor with :class:`~ftpool.Pool`'s surface that runs its tasks on a Dask cluster.

    ``DaskPool(client_or_address, *, task=None, handlers=None, max_queue=None,
    connect_timeout=10.0)``

    * ``client_or_address``: a ``distributed.Client`` (the pool uses it and never closes it) or a
      scheduler address such as ``"tcp://127.0.0.1:8786"`` (the pool opens its own client,
      waiting up to ``connect_timeout`` seconds for the scheduler, then ``TimeoutError``; it
      closes that client when it is closed or shut down).
    * ``task``, ``handlers``, ``@pool.handler``: as in ``Pool`` (what :meth:`run` calls).
    * ``max_queue``: see the module docstring (an estimate on a cluster); ``"auto"``: the
      cluster's threads squared when the pool is created (Piscina's rule, as ``Pool``); None:
      unbounded.

    The functions and arguments must be picklable (they travel to other processes), and the
    workers must be able to import ftpool and the task's module (install ftpool on them).
    Every submitted task ends exactly once: a result, an exception, or cancelled. What is only
    partly honoured compared with ``Pool`` (cancel of running tasks, timeout, stats, events,
    broadcast) and why is listed in the module docstring of ``ftpool.dask``.
    """

    def __init__(
        self,
        client_or_address: distributed.Client | str,
        *,
        task: Callable[[Any], Any] | None = None,
        handlers: Mapping[str, Callable[[Any], Any]] | None = None,
        max_queue: int | Literal["auto"] | None = None,
        connect_timeout: float | None = CONNECT_TIMEOUT,
    ) -> None:
        if task is not None and not callable(task):
            raise TypeError(f"task must be a callable or None, got {type(task).__name__}")
        if handlers is not None and not isinstance(handlers, Mapping):
            raise TypeError(
                f"handlers must be a mapping of name -> callable (e.g. a dict) or None, got "
                f"{type(handlers).__name__}"
            )
        registry: dict[str, Callable[[Any], Any]] = {}
        for name, fn in (handlers or {}).items():
            _check_handler(name, fn)
            registry[name] = fn
        if max_queue is not None and max_queue != "auto":
            if isinstance(max_queue, bool) or not isinstance(max_queue, int):
                raise TypeError(f"max_queue must be an int, 'auto' or None, got {max_queue!r}")
            if max_queue < 1:
                raise ValueError(f"max_queue must be >= 1 (or None for no limit), got {max_queue}")
        seconds = check_timeout(connect_timeout, "DaskPool(connect_timeout=...)")
        if isinstance(client_or_address, distributed.Client):
            client, owns = client_or_address, False
        elif isinstance(client_or_address, str):
            client, owns = _connect(client_or_address, seconds), True
        else:
            raise TypeError(
                "DaskPool() takes a distributed.Client or a scheduler address (str, e.g. "
                f"'tcp://127.0.0.1:8786'), got {type(client_or_address).__name__}"
            )
        self._client = client
        self._owns_client = owns
        self._task = task
        self._handlers = registry
        self.max_queue: int | None = None  # set below, once the cluster's threads are known
        self._listeners = Listeners("DaskPool", EVENTS)
        self._name = f"ftpool-{uuid.uuid4().hex[:12]}"
        self._record_name = f"{self._name}-cancel"
        self._ids = itertools.count()
        # guards: _pending, _closed, _counters, _record, _to_cancel, _pushing, _dirty, _threads,
        # _queued_before (the drain estimate)
        self._lock = threading.Lock()
        self._all_ended = threading.Condition(self._lock)  # nothing pending or ending
        self._has_work = threading.Condition(self._lock)  # _ready filled, or nothing pending
        self._push_idle = threading.Condition(self._lock)  # no cancel-record write in flight
        self._pending: dict[str, tuple[Task, distributed.Future, float]] = {}
        self._ready: list[tuple[str, distributed.Future]] = []  # done, not yet collected
        self._expired: list[tuple[str, float]] = []  # (key, timeout) past their deadline
        self._timing = False  # subscribed to this pool's task-start events
        self._ending = 0  # taken from _pending, future not yet ended
        self._collecting = False  # a collector thread runs
        self._collector: threading.Thread | None = None
        self._closed = False
        self._released = False
        self._counters = WorkerCounters()  # written under _lock only (a single writer at a time)
        self._record: dict[str, tuple[str, float]] = {}
        self._to_cancel: list[distributed.Future] = []
        self._pushing = False
        self._dirty = False
        self._queued_before = 0
        self._created = time.perf_counter()
        try:
            self._variable = Variable(self._record_name, client=client)
            self._variable.set({})
            self._threads: int = max(1, sum(client.nthreads().values()))
            self.max_queue = self._threads**2 if max_queue == "auto" else max_queue
        except BaseException:
            if owns:
                client.close()
            raise
        self._watching_workers = False
        with _live_lock:
            _live_pools.add(self)

    # --- submitting ------------------------------------------------------------------------------

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> PoolFuture[T]:
        """Schedule ``fn(*args, **kwargs)`` on the cluster; return its future at once.

        Blocks only while ``distributed`` pickles the call (in this thread). ``TypeError`` for a
        non-callable or an unpicklable function or argument (naming it), ``QueueFull`` (see
        ``max_queue``), ``RuntimeError`` (a :class:`~ftpool.ClosedError`) after shutdown.
        """
        if not callable(fn):
            raise TypeError(
                f"submit() needs a callable as first argument, got {type(fn).__name__}: "
                "pass the function and its arguments, e.g. pool.submit(fn, x)"
            )
        task = Task(fn, args, kwargs)
        self._launch(task, None, fn, args, kwargs, admit=True)
        return task.future

    def run(
        self,
        arg: Any = None,
        *,
        name: str | None = None,
        cancel: CancelToken | None = None,
        timeout: float | None = None,
    ) -> PoolFuture[Any]:
        """Piscina's ``run``, as ``Pool.run``: ``handler(arg)`` on the cluster, its future at once.

        ``name`` picks a handler (:class:`~ftpool.UnknownHandlerError` when unknown, here);
        ``cancel=token`` cancels the task when the token is cancelled (an already cancelled
        token gives an already cancelled future); ``timeout`` seconds count from the task's start
        on its worker (see the module docstring for when the future notices). Errors as
        :meth:`submit`; ``ValueError``/``TypeError`` for a bad timeout.
        """
        fn = self._handler_for(name)
        seconds = check_timeout(timeout, "DaskPool.run")
        if cancel is not None and not isinstance(cancel, CancelToken):
            raise TypeError(f"cancel must be an ftpool.CancelToken or None, got {cancel!r}")
        self._check_open()
        task = Task(fn, (arg,), {})
        if seconds is not None:
            task.timeout = seconds
            self._time_starts()
        if cancel is not None:
            if not cancel.add_callback(task.cancel_from_link):  # already cancelled: never runs
                task.future._cancel_once(cancel.reason)
                with self._lock:
                    self._counters.cancelled += 1
                task.release()
                return task.future
            task.linked = cancel
        try:
            self._launch(task, seconds, fn, (arg,), {}, admit=True)
        except BaseException:
            task.release()
            raise
        return task.future

    def map(
        self,
        fn: Callable[..., T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
        buffersize: int | None = None,
    ) -> Iterator[T]:
        """As ``Pool.map``: results in input order, the work sent in chunks (``chunksize=None``:
        about four chunks per cluster thread for an input of known length; adaptive with
        ``max_queue``). Without ``buffersize`` the input is read at the call; with it, lazily,
        at most ``buffersize`` items read and not yet yielded. ``timeout`` counts from this
        call. Closing the iterator early cancels the chunks still in flight. Errors as
        ``Pool.map``."""
        seconds = self._check_map(fn, timeout, chunksize, buffersize, "DaskPool.map")
        return _map_ordered(
            self._map_core, fn, iterables,  # type: ignore[arg-type]
            timeout=seconds, chunksize=chunksize, buffersize=buffersize,
        )

    def imap_unordered(
        self,
        fn: Callable[[Any], T],
        iterable: Iterable[Any],
        chunksize: int | None = None,
        *,
        timeout: float | None = None,
        buffersize: int | None = None,
    ) -> Iterator[T]:
        """As ``Pool.imap_unordered``: each chunk's results as soon as that chunk is done; the
        input is read lazily, at most ``buffersize`` items ahead (default: 4096 per thread)."""
        seconds = self._check_map(fn, timeout, chunksize, buffersize, "DaskPool.imap_unordered")
        return _imap_unordered(
            self._map_core, fn, iterable,  # type: ignore[arg-type]
            chunksize=chunksize, timeout=seconds, buffersize=buffersize,
        )

    def broadcast(self, fn: Callable[..., Any], *args: Any) -> list[PoolFuture[Any]]:
        """Run ``fn(*args)`` once on every Dask worker process known now (pinned to it with
        ``workers=``); return their futures at once. Asks the scheduler for the workers (one
        round trip). A worker that leaves before running it fails that future with
        :class:`TaskLost` or ``KilledWorker``. Not limited by ``max_queue``."""
        if not callable(fn):
            raise TypeError(f"broadcast() needs a callable, got {type(fn).__name__}")
        self._check_open()
        nthreads = self._client.nthreads()
        with self._lock:
            self._threads = max(1, sum(nthreads.values()))
        workers = sorted(nthreads)
        futures = []
        for address in workers:
            task = Task(fn, args, {})
            self._launch(task, None, fn, args, {}, admit=False, workers=[address])
            futures.append(task.future)
        return futures

    # --- the Pool core the map machinery of ftpool._pool.map drives ------------------------------

    @property
    def _map_core(self) -> _MapCore:
        return _MapCore(self)

    def _check_map(
        self, fn: object, timeout: object, chunksize: object, buffersize: object, where: str
    ) -> float | None:
        seconds = check_map_arguments(fn, timeout, chunksize, buffersize, where)
        self._check_open()
        return seconds

    def _check_open(self) -> None:
        if self._closed or _interpreter_exiting:
            self._raise_closed()

    def _raise_closed(self) -> NoReturn:
        if _interpreter_exiting and not self._closed:
            raise PoolClosedError("cannot schedule new futures after interpreter shutdown")
        raise PoolClosedError("cannot schedule new futures after shutdown")

    def _launch(
        self,
        task: Task,
        timeout: float | None,
        fn: Callable[..., Any],
        args: Any,
        kwargs: Mapping[str, Any],
        *,
        admit: bool,
        chunk: bool = False,
        workers: list[str] | None = None,
    ) -> None:
        """Send ``task`` to the scheduler and wire its Dask future to ``task.future``."""
        key = f"{self._name}-{next(self._ids)}"
        with self._lock:
            if self._closed or _interpreter_exiting:
                self._raise_closed()
            limit = self.max_queue
            if admit and limit is not None:
                waiting = len(self._pending) - self._threads
                if waiting >= limit:
                    raise QueueFull(
                        f"about {waiting} tasks already wait for this pool's {self._threads} "
                        f"cluster threads (max_queue={limit}); retry later (the pool emits "
                        "'drain' when its queue empties), or raise max_queue"
                    )
            # reserved before the submit, so that close() waits for it
            self._pending[key] = (task, None, time.perf_counter())
            self._queued_before = max(self._queued_before, len(self._pending) - self._threads)
            self._start_collector()
        try:
            dfut = self._client.submit(
                execute, (self._record_name, key, timeout, chunk), fn, args, kwargs,
                key=key, pure=False, workers=workers, allow_other_workers=False,
            )
        except BaseException as exc:
            with self._lock:
                self._pending.pop(key, None)
                if self._idle():
                    self._all_ended.notify_all()
                self._has_work.notify()  # the collector may leave
            if isinstance(exc, (TypeError, AttributeError, pickle.PicklingError)):
                shown = tuple(args[0]) if chunk else tuple(args)  # a chunk: its items
                error = _unpicklable(fn, shown, kwargs)
                if error is not None:
                    raise error from exc
            raise
        with self._lock:
            entry = self._pending.get(key)
            if entry is not None:
                self._pending[key] = (task, dfut, entry[2])
        # A cancel of the task (Future.cancel(), cancel=, map's early close) reaches the cluster
        cancel_remote = functools.partial(self._cancel_remote, key, dfut)
        if not task.add_callback(cancel_remote):  # cancelled (through cancel=) meanwhile
            cancel_remote(task.reason)
        dfut.add_done_callback(functools.partial(self._on_done, key))

    # --- completion -----------------------------------------------------------------------------
    # Dask calls _on_done on its callback thread (one thread for every client in the process);
    # the pool's collector thread takes whatever finished meanwhile, fetches all their results in
    # one gather (one round trip for a batch instead of one per task) and ends the futures, so
    # done-callbacks of ftpool futures run on the collector thread, never on the event loop.

    def _on_done(self, key: str, dfut: distributed.Future) -> None:
        with self._lock:
            if key in self._pending:
                self._ready.append((key, dfut))
                self._has_work.notify()

    def _start_collector(self) -> None:
        # _lock held
        if self._collecting:
            return
        # a daemon: interpreter exit waits for the pools in _python_exit instead, while
        # distributed still works (a non-daemon thread is joined after concurrent.futures has
        # stopped the executors distributed needs, and would wait forever)
        thread = threading.Thread(
            target=self._collect, name=f"{self._name}-results", daemon=True
        )
        self._collecting = True
        self._collector = thread
        try:
            thread.start()
        except BaseException:
            self._collecting = False
            raise

    def _collect(self) -> None:
        """The collector thread: end futures batch by batch; leave when nothing is pending."""
        while True:
            with self._lock:
                while not self._ready and not self._expired:
                    if not self._pending:
                        self._collecting = False
                        self._all_ended.notify_all()
                        return
                    self._has_work.wait()
                batch, self._ready = self._ready, []
                expired, self._expired = self._expired, []
            for key, timeout in expired:
                self._time_out(key, timeout)
            try:
                self._complete(batch)
            except BaseException as exc:  # never silent; every future of the batch still ends
                self._internal_error(exc, "DaskPool result collector")
                for key, _ in batch:
                    self._end(key, False, exc, 0.0)

    # --- timeouts: the task announces its start (a scheduler event, only for tasks with a
    # timeout=); the client's event loop arms a timer from then; when it fires first, the
    # collector fails the future with TimeoutError and the cancel record stops the task.

    def _time_starts(self) -> None:
        with self._lock:
            if self._timing:
                return
            self._timing = True
        self._client.subscribe_topic(started_topic(self._record_name), self._on_started)

    def _on_started(self, event: Any) -> None:
        """On the client's event loop: a task with a timeout started; time it from now."""
        _, key = event
        with self._lock:
            entry = self._pending.get(key)
        timeout = None if entry is None else entry[0].timeout
        if timeout is not None:
            asyncio.get_running_loop().call_later(timeout, self._on_deadline, key, timeout)

    def _on_deadline(self, key: str, timeout: float) -> None:
        with self._lock:
            if key in self._pending:
                self._expired.append((key, timeout))
                self._has_work.notify()

    def _time_out(self, key: str, timeout: float) -> None:
        """In the collector: the task ran past its timeout and is still running."""
        with self._lock:
            entry = self._pending.get(key)
            if entry is None:
                return
            self._record[key] = (f"the task ran longer than its timeout of {timeout} s",
                                 time.monotonic())
            if entry[1] is not None:
                self._to_cancel.append(entry[1])
        self._schedule_push()
        error = TimeoutError(
            f"the task ran longer than its timeout of {timeout} s and was cancelled"
        )
        self._end(key, False, error, timeout)

    def _complete(self, batch: list[tuple[str, distributed.Future]]) -> None:
        finished = {key: dfut for key, dfut in batch if dfut.status == "finished"}
        values: dict[str, tuple[bool, Any, float]] = {}
        if finished:
            try:
                values = self._client.gather(finished)
            except Exception:  # one of them could not be fetched: find out which, one by one
                for key, dfut in finished.items():
                    if dfut.status != "finished":
                        continue  # its result was lost meanwhile: see below
                    try:
                        values[key] = dfut.result()
                    except Exception as exc:
                        values[key] = (False, exc, 0.0)
        for key, dfut in batch:
            if key in values:
                ok, value, elapsed = values[key]
                self._end(key, ok, value, elapsed)
                continue
            status = dfut.status
            if status == "error":
                error = dfut.exception()
                if isinstance(error, distributed.KilledWorker):
                    error.add_note(
                        "(ftpool: the Dask worker processes that ran this task died each "
                        "time, e.g. killed or out of memory; the task was not completed)"
                    )
            elif status == "cancelled":  # by the cluster (ours are no longer pending)
                error = TaskLost(
                    "the Dask cluster dropped the task: the scheduler connection was lost or "
                    "the key was cancelled elsewhere; run it again"
                )
            else:
                # "lost"/"pending": the worker holding its result died before we fetched it,
                # and the scheduler computes it again. Wait for that outcome.
                dfut.add_done_callback(functools.partial(self._on_done, key))
                continue
            self._end(key, False, error, 0.0)

    def _end(self, key: str, ok: bool, value: Any, elapsed: float) -> None:
        """End the future of ``key`` with its outcome (unless a cancel ended it first)."""
        with self._lock:
            entry = self._pending.pop(key, None)
            if entry is None:
                return  # cancelled first: _cancel_remote ended it
            self._ending += 1
        task, _, submitted = entry
        latency = time.perf_counter() - submitted
        task.elapsed = elapsed
        future = task.future
        # Counted BEFORE the future ends (as Pool's worker does): ending it wakes the waiters, so
        # stats() read after result() must include it, and a map consumer may take a chunk's
        # results out of `value` as soon as it ends.
        with self._lock:
            counters = self._counters
            before = _outcome_counts(counters)
            if ok:
                task.tally(counters, value)
            else:
                counters.failed += task.size
                if isinstance(value, TimeoutError):
                    counters.timed_out += 1
            after = _outcome_counts(counters)
            added = [now - then for now, then in zip(after, before, strict=True)]
        ended = future._set_result_once(value) if ok else future._set_exception_once(value)
        with self._lock:
            self._ending -= 1
            if not ended:  # a cancel ended it between the pop and here: it counts as cancelled
                counters.completed -= added[0]
                counters.failed -= added[1]
                counters.cancelled -= added[2]
                counters.timed_out -= added[3]
                counters.cancelled += task.size
            elif ok:
                counters.busy += elapsed
                counters.add_sample(elapsed / max(1, task.size), max(0.0, latency - elapsed))
            drained = self._drained()
            idle = not self._pending and not self._ending
            if idle:
                self._all_ended.notify_all()
            release = idle and self._closed and not self._released
        task.release()
        if drained:
            self._listeners.emit("drain")
        if release:  # after shutdown(wait=False): the last task ended, release the pool
            self._release()

    def _idle(self) -> bool:
        # _lock held: every task has ended and the collector has left
        return not self._pending and not self._ending and not self._collecting

    def _drained(self) -> bool:
        # _lock held: True when the estimated queue just emptied (only computed with listeners)
        if not self._listeners.has("drain"):
            return False
        queued = max(0, len(self._pending) - self._threads)
        was, self._queued_before = self._queued_before, queued
        return was > 0 and queued == 0

    def _internal_error(self, exc: BaseException, where: str) -> None:
        if self._listeners.has("error"):
            self._listeners.emit("error", exc)
        else:
            report(exc, where)

    # --- cancelling ------------------------------------------------------------------------------

    def _cancel_remote(self, key: str, dfut: distributed.Future, reason: object) -> None:
        """The task's token was cancelled (its future has ended cancelled): record it for running
        tasks and drop it from the scheduler. Never blocks: the writes run on the client's loop."""
        with self._lock:
            entry = self._pending.pop(key, None)
            if entry is None:
                return  # ended already (its result is being set)
            self._ending += 1
            self._record[key] = (_reason_text(reason), time.monotonic())
            self._to_cancel.append(dfut)
        task = entry[0]
        ended = task.future._cancel_once(reason)  # now, before close() can see it gone
        with self._lock:
            self._ending -= 1
            self._counters.cancelled += task.size if ended else 0
            if not self._pending and not self._ending:
                self._all_ended.notify_all()
            self._has_work.notify()  # the collector may leave
            drained = self._drained()
        self._schedule_push()
        if drained:
            self._listeners.emit("drain")

    def _schedule_push(self) -> None:
        with self._lock:
            self._dirty = True
            if self._pushing:
                return
            self._pushing = True
        try:
            self._client.loop.add_callback(self._push)
        except BaseException as exc:
            with self._lock:
                self._pushing = False
                self._push_idle.notify_all()
            self._internal_error(exc, "DaskPool cancel")

    async def _push(self) -> None:
        """On the client's event loop: write the cancel record and cancel the Dask futures, one
        write at a time, so that a later value never gets overtaken by an earlier one."""
        while True:
            with self._lock:
                if not self._dirty:
                    self._pushing = False
                    self._push_idle.notify_all()
                    return
                self._dirty = False
                now = time.monotonic()
                old = [k for k, (_, at) in self._record.items() if now - at > CANCEL_RECORD_TTL]
                for key in old:
                    del self._record[key]
                value = {key: list(entry) for key, entry in self._record.items()}
                futures, self._to_cancel = self._to_cancel, []
            try:
                await self._variable.set(value, asynchronous=True)
                if futures:
                    await self._client.cancel(futures, asynchronous=True)
            except Exception as exc:
                self._internal_error(exc, "DaskPool cancel record")

    def _flush(self, timeout: float | None) -> None:
        with self._lock:
            self._push_idle.wait_for(lambda: not self._pushing, timeout)

    # --- closing ---------------------------------------------------------------------------------

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """As ``Executor.shutdown``: take no more work; with ``cancel_futures`` cancel the tasks
        that wait in the scheduler (asks it which run, one round trip; running ones finish);
        with ``wait``, block until every task has ended, then close the pool's own client.
        Idempotent; never raises."""
        with self._lock:
            self._closed = True
        if cancel_futures:
            self._cancel_waiting()
        with self._lock:
            idle = not self._pending
        if wait:
            self._wait_idle(None)
            self._release()
        elif idle:
            self._release()
        # else the last task's end releases the pool (see _end)

    def _cancel_waiting(self) -> None:
        try:
            processing = self._client.processing()
            running = {key for keys in processing.values() for key in keys}
        except Exception:
            running = set()
        with self._lock:
            waiting = [task for key, (task, _, _) in self._pending.items() if key not in running]
        for task in waiting:
            task.cancel(CANCEL_FUTURES_REASON)

    def close(self, timeout: float | None = None) -> None:
        """Take no more work, let every submitted task finish, and wait for them: up to
        ``timeout`` seconds (None: as long as it takes), then ``TimeoutError`` (they go on; call
        :meth:`terminate` to cancel them). Then closes the pool's own client. Idempotent."""
        seconds = check_timeout(timeout, "DaskPool.close")
        with self._lock:
            self._closed = True
        if not self._wait_idle(seconds):
            raise TimeoutError(
                f"the pool's tasks did not finish within {timeout} s; they go on in the "
                "cluster (call terminate() to cancel them)"
            )
        self._release()

    def terminate(self, timeout: float | None = None) -> None:
        """Cancel every unfinished task: their futures end cancelled now, waiting ones are
        dropped by the scheduler, running ones stop at their next ``check_cancelled()`` (the
        cancel record names them all). Waits up to ``timeout`` seconds (None: as long as it
        takes) for the record to reach the scheduler, then closes the pool's own client.
        Idempotent."""
        seconds = check_timeout(timeout, "DaskPool.terminate")
        with self._lock:
            self._closed = True
            self._record[ALL_TASKS] = (TERMINATE_REASON, time.monotonic() + 1e9)
            tasks = [task for task, _, _ in self._pending.values()]
        self._schedule_push()
        for task in tasks:
            task.cancel(TERMINATE_REASON)
        self._flush(seconds)
        self._wait_idle(seconds)
        self._release(keep_record=True)

    def _wait_idle(self, timeout: float | None) -> bool:
        """Wait until every task has ended and the collector thread has left; False on timeout."""
        with self._lock:
            if not self._all_ended.wait_for(self._idle, timeout):
                return False
            collector = self._collector
        if collector is not None and collector is not threading.current_thread():
            collector.join(timeout)
        return True

    def _release(self, *, keep_record: bool = False) -> None:
        """Once nothing is pending: drop the cancel record and close the client this pool opened.

        A record that names a task is kept (a few dozen bytes per task on the scheduler, for the
        cluster's lifetime): a cancelled task may still run on a worker until it sees its entry.
        Deleted, it would never see it and would run to its end.
        """
        with self._lock:
            if self._released:
                return
            self._released = True
            keep_record = keep_record or bool(self._record)
        self._flush(REFRESH_TIMEOUT)
        if self._timing and self._client.status == "running":
            self._client.unsubscribe_topic(started_topic(self._record_name))
        if not keep_record:
            try:
                self._variable.delete()
            except Exception as exc:
                self._internal_error(exc, "DaskPool close")
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> Literal[False]:
        """Close the pool (:meth:`close`): wait for every task to finish."""
        self.close()
        return False

    # --- handlers --------------------------------------------------------------------------------

    @overload
    def handler(self, name_or_fn: str) -> Callable[[F], F]: ...
    @overload
    def handler(self, name_or_fn: F) -> F: ...
    def handler(self, name_or_fn: str | F) -> Any:
        """Register a handler for ``run(name=...)``, as ``Pool.handler``: ``@pool.handler`` (under
        the function's ``__name__``) or ``@pool.handler("name")``. Returns the function."""
        if isinstance(name_or_fn, str):
            name = name_or_fn

            def register(fn: F) -> F:
                self._add_handler(name, fn)
                return fn

            return register
        if not callable(name_or_fn):
            raise TypeError(
                f"handler() takes a name (str) or a function to register, got "
                f"{type(name_or_fn).__name__}: use @pool.handler or @pool.handler('name')"
            )
        self._add_handler(getattr(name_or_fn, "__name__", None), name_or_fn)
        return name_or_fn

    def _add_handler(self, name: object, fn: object) -> None:
        _check_handler(name, fn)
        handlers = dict(self._handlers)  # copy-on-write: run() reads it without a lock
        handlers[name] = fn  # type: ignore[index, assignment]
        self._handlers = handlers

    def _handler_for(self, name: str | None) -> Callable[[Any], Any]:
        known = ", ".join(map(repr, self._handlers)) or "(none registered)"
        if name is None:
            if self._task is None:
                raise UnknownHandlerError(
                    "this pool has no default task: create it with DaskPool(client, task=fn), "
                    f"or call run(arg, name=...) with one of: {known}"
                )
            return self._task
        fn = self._handlers.get(name)
        if fn is None:
            raise UnknownHandlerError(f"no handler named {name!r}; known: {known}")
        return fn

    @property
    def handlers(self) -> dict[str, Callable[[Any], Any]]:
        """A copy of the registered handlers, by name."""
        return dict(self._handlers)

    # --- events, stats ---------------------------------------------------------------------------

    def on(self, event: str, callback: Callable[..., object]) -> None:
        """Call ``callback`` on ``event`` (``ValueError`` for an unknown one): ``"drain"``,
        ``"worker_create"``/``"worker_exit"`` (the Dask worker's address), ``"error"``. See the
        module docstring for which thread calls them. A raising callback is reported."""
        self._listeners.add(event, callback)
        if event in ("worker_create", "worker_exit"):
            self._watch_workers()

    def off(self, event: str, callback: Callable[..., object]) -> bool:
        """Remove a callback added with :meth:`on`; False when it was not registered."""
        return self._listeners.remove(event, callback)

    def _watch_workers(self) -> None:
        with self._lock:
            if self._watching_workers:
                return
            self._watching_workers = True
        client = self._client
        previous = getattr(client, "_event_handlers", {}).get("all")

        def on_event(event: Any) -> Any:
            _, msg = event
            if isinstance(msg, dict):
                action = msg.get("action")
                if action == "add-worker":
                    self._listeners.emit("worker_create", msg.get("worker"))
                elif action == "remove-worker":
                    self._listeners.emit("worker_exit", msg.get("worker"))
            return None if previous is None else previous(event)  # keep the client's own handler

        client.subscribe_topic("all", on_event)

    def stats(self) -> PoolStats:
        """A frozen :class:`~ftpool.PoolStats`; ``workers`` counts the cluster's threads. Asks the
        scheduler for them (one round trip; the last known count if it does not answer). See
        the module docstring for what the fields mean on a cluster."""
        try:
            threads = max(1, sum(self._client.nthreads().values()))
        except Exception:
            threads = self._threads
        with self._lock:
            self._threads = threads
            counters = WorkerCounters()
            counters.absorb(self._counters)
            pending = len(self._pending)
        running = min(pending, threads)
        elapsed = max(time.perf_counter() - self._created, 1e-9)
        return PoolStats(
            workers=threads,
            idle_workers=threads - running,
            max_workers=threads,
            min_workers=0,
            queued=pending - running,
            running=running,
            completed=counters.completed,
            failed=counters.failed,
            cancelled=counters.cancelled,
            timed_out=counters.timed_out,
            utilization=min(1.0, counters.busy / (elapsed * threads)),
            run_time=TimingSummary.of(counters.run_times()),
            wait_time=TimingSummary.of(counters.wait_times()),
        )

    @property
    def max_workers(self) -> int:
        """The cluster's threads as last counted (at creation, ``broadcast`` and ``stats()``):
        how many tasks can run at once, as ``Pool.max_workers``."""
        return self._threads

    @property
    def client(self) -> distributed.Client:
        """The ``distributed.Client`` this pool submits through."""
        return self._client

    def __repr__(self) -> str:
        state = "shut down" if getattr(self, "_closed", True) else "open"
        client = getattr(self, "_client", None)
        where = getattr(getattr(client, "scheduler", None), "address", "?")
        return f"<ftpool.dask.DaskPool {state} scheduler={where}>"


class _MapCore:
    """What ``ftpool._pool.map`` needs of a pool core, on a :class:`DaskPool`: ``max_workers``
    (the cluster's threads, for the automatic chunk size), ``max_queue`` (the window),
    ``check_open`` and ``push`` (send a ``ChunkTask`` to the cluster)."""

    __slots__ = ("_pool",)

    def __init__(self, pool: DaskPool) -> None:
        self._pool = pool

    @property
    def max_workers(self) -> int:
        return self._pool._threads

    @property
    def max_queue(self) -> int | None:
        return self._pool.max_queue

    def check_open(self) -> None:
        self._pool._check_open()

    def push(self, task: ChunkTask) -> None:
        self._pool._launch(
            task, None, task.fn, (task.items, task.star), {}, admit=False, chunk=True  # type: ignore[arg-type]
        )


def _outcome_counts(counters: WorkerCounters) -> tuple[int, int, int, int]:
    return counters.completed, counters.failed, counters.cancelled, counters.timed_out


def _check_handler(name: object, fn: object) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a handler name must be a non-empty str, got {name!r}")
    if not callable(fn):
        raise TypeError(f"handler {name!r} must be callable, got {type(fn).__name__}")


def _reason_text(reason: object) -> str:
    return FUTURE_CANCEL_REASON if reason is None else str(reason)


def _connect(address: str, timeout: float | None) -> distributed.Client:
    """A client of the scheduler at ``address``, or ``TimeoutError`` after ``timeout`` s.

    The scheduler is probed first, on a temporary event loop in this thread: a ``Client`` that
    fails to connect leaves its event-loop thread running, a probe leaves nothing behind.
    """
    seconds = timeout if timeout is not None else 3650 * 86400.0

    async def probe() -> None:
        comm = await distributed.comm.connect(address, timeout=seconds)
        await comm.close()

    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: no event loop runs in this thread
            asyncio.run(probe())
        return distributed.Client(address, timeout=seconds, set_as_default=False)
    except (TimeoutError, OSError) as exc:
        raise TimeoutError(
            f"could not reach the Dask scheduler at {address!r} within {timeout} s ({exc}); "
            "start one (`dask scheduler`, then `dask worker ADDRESS`), check the address, or "
            "pass a longer connect_timeout"
        ) from None


def local_cluster(workers: int = 2, threads: int | None = None, **kwargs: Any) -> Any:
    """Start a ``distributed.LocalCluster`` for a :class:`DaskPool` on this machine: ``workers``
    processes with ``threads`` threads each (default: the usable cores shared out, at least 1),
    listening on 127.0.0.1 only, no dashboard (the scheduler's HTTP endpoint on a free loopback
    port). On a free-threaded build the worker processes get ``PYTHON_GIL=0``, so their threads
    run Python code in parallel. Blocks until the workers are up (a few seconds); ``kwargs`` go to
    ``LocalCluster``. Close it with ``cluster.close()`` or a ``with`` block."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if threads is None:
        threads = max(1, usable_cores() // workers)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1 or None, got {threads!r}")
    env: dict[str, str] = {}
    free_threaded = free_threaded_build()
    if free_threaded:
        # PYTHON_GIL=0: the workers' threads run in parallel. The profiler off: distributed's
        # sampling profiler walks other threads' frames (sys._current_frames()) every 10 ms,
        # which is not safe without the GIL on 3.13t: it crashed the scheduler's process and
        # worker processes with SIGSEGV here, in distributed.profile.identifier.
        env.update(PYTHON_GIL="0", DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED="False")
    options: dict[str, Any] = {
        "n_workers": workers,
        "threads_per_worker": threads,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
        "scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        "env": env,
    }
    options.update(kwargs)
    if not free_threaded:
        return distributed.LocalCluster(**options)
    with dask.config.set({"distributed.worker.profile.enabled": False}):  # this process's servers
        return distributed.LocalCluster(**options)
