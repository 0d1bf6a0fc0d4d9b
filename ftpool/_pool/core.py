"""The pool's private core: workers (start on demand, retire when idle), the submit path,
shutdown/terminate, a broken initializer, interpreter exit, and statistics.

Modelled on CPython's ``concurrent/futures/thread.py``:

* Interpreter exit: ``threading._register_atexit(_python_exit)`` runs before Python joins its
  non-daemon threads; it stops new submits ("cannot schedule new futures after interpreter
  shutdown"), lets every live pool finish what was queued, and joins the workers. Work submitted
  just before exit completes.
* A pool dropped without ``shutdown()``: the core holds only a weakref to the public ``Pool``
  (workers and the timer hold the core, never the ``Pool``). When the ``Pool`` is collected, the
  weakref callback shuts the core down: queued tasks still run (their futures may be held), then
  the workers and the timer thread end. The callback takes no lock (it may run inside a garbage
  collection on any thread, even one that holds a pool lock): it sets a flag and puts wake tokens,
  like the stdlib's ``q.put(None)``.

Locks. ``_lock`` guards the worker set and count, the shutdown/broken transitions, the thread
list and the counts of retired workers. It is taken when a worker starts, retires or exits, at
shutdown and for ``stats()``: never per task. ``_removed_lock`` (a leaf: held for an addition
only) guards the counts of tasks ended while still queued (cancelled, or failed by a broken
pool). ``_admit_lock`` serializes the ``max_queue`` check with
its push (only pools with ``max_queue`` take it). The submit path itself is lock-free (see
``balancer``): it appends to a deque, wakes a parked worker if any, and re-reads the shutdown
flag afterwards, which pairs with a worker's exit check (each does a store, a full barrier, then a
load of what the other stored), so a task queued during a shutdown is either seen by a worker or
taken back by its submitter.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures.thread import BrokenThreadPool
from typing import TYPE_CHECKING, Any, NoReturn

from .._context import new_thread_id
from .._errors import BrokenPool, ClosedError, QueueFull
from .._events import Listeners, report
from .balancer import Balancer, make_balancer
from .stats import PoolStats, TimingSummary, WorkerCounters
from .timer import TimeoutTimer
from .worker import TERMINATE_REASON, PoolHost, PoolWorker, worker_main

if TYPE_CHECKING:
    from .task import Task

__all__ = ["PoolBrokenError", "PoolClosedError", "PoolCore"]

CANCEL_FUTURES_REASON = "the pool was shut down with cancel_futures=True"

_perf_counter = time.perf_counter


class PoolClosedError(ClosedError, RuntimeError):
    """``submit``/``run``/``map`` on a pool that was shut down, closed or terminated.

    A ``RuntimeError`` with the standard library's message ("cannot schedule new futures after
    shutdown"), so code written for ``ThreadPoolExecutor`` catches it unchanged, and a
    :class:`~ftpool.ClosedError`. Create a new pool to run more work.
    """


class PoolBrokenError(BrokenPool, BrokenThreadPool):
    """A worker's initializer failed, so the pool runs nothing more: queued futures fail with it
    and later submits raise it. ``__cause__`` is the initializer's exception.

    Both a :class:`~ftpool.BrokenPool` and the standard library's ``BrokenThreadPool`` (a
    ``concurrent.futures.BrokenExecutor``), so either ``except`` works.
    """


# --- interpreter exit (as concurrent/futures/thread.py) ---------------------------------------

_live_cores: weakref.WeakSet[PoolCore] = weakref.WeakSet()
_interpreter_exiting = False
# guards _interpreter_exiting and _live_cores; held while a worker is created, so that no worker
# starts once the interpreter is shutting down
_global_lock = threading.Lock()


def _python_exit() -> None:
    global _interpreter_exiting
    with _global_lock:
        _interpreter_exiting = True
        cores = list(_live_cores)
    for core in cores:
        core.shutdown(wait=False)
    for core in cores:
        core.join()


threading._register_atexit(_python_exit)  # type: ignore[attr-defined]

if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_global_lock.acquire,
        after_in_child=_global_lock._at_fork_reinit,  # type: ignore[attr-defined]
        after_in_parent=_global_lock.release,
    )
    os.register_at_fork(after_in_child=_live_cores.clear)


def interpreter_exiting() -> bool:
    """True once Python has started to shut down (no pool takes new work then)."""
    return _interpreter_exiting


class PoolCore:
    """Everything of a pool except its public face (``ftpool.Pool``). See the module docstring."""

    def __init__(
        self,
        *,
        max_workers: int,
        min_workers: int,
        idle_timeout: float | None,
        max_queue: int | None,
        balancer: str,
        initializer: Callable[..., object] | None,
        initargs: tuple[Any, ...],
        name_prefix: str,
        listeners: Listeners,
    ) -> None:
        self.max_workers = max_workers
        self.min_workers = min_workers
        self.idle_timeout = idle_timeout
        self.max_queue = max_queue
        self.balancer: Balancer = make_balancer(balancer, self)
        self.listeners = listeners
        self.drain_listened = False  # listeners.has("drain"), kept by Pool.on/off (hot path)
        self.name_prefix = name_prefix
        self.timer = TimeoutTimer(name_prefix)
        self._initializer = initializer
        self._initargs = initargs
        # guards: _nworkers and balancer.attach/detach, _threads, the shutdown_started/terminating
        # /broken transitions, _retired
        self._lock = threading.Lock()
        self._admit_lock = threading.Lock()  # guards: the max_queue check together with its push
        self._nworkers = 0
        self._threads: list[threading.Thread] = []
        self._names = itertools.count()
        # Set once, never cleared; read without the lock on the hot path.
        self.shutdown_started = False  # no new work; workers leave when their queues are empty
        self.terminating = False  # terminate(): tasks that start from now on are cancelled
        self.broken: BaseException | None = None  # the failed initializer's exception
        self._retired = WorkerCounters()  # the counts of workers that exited (under _lock)
        # A leaf lock (held for an addition only, never while calling out or allocating), so
        # that a cancel may run anywhere, even in a finalizer: guards _removed.
        self._removed_lock = threading.Lock()
        self._removed = WorkerCounters()  # tasks ended while queued, by no worker
        self.created = _perf_counter()
        self._owner: weakref.ref[Any] | None = None
        with _global_lock:
            _live_cores.add(self)

    # --- lifetime of the public object -----------------------------------------------------------

    def watch(self, owner: object) -> None:
        """Shut down (finishing queued work) when ``owner`` (the public Pool) is collected."""
        self._owner = weakref.ref(owner, self._owner_collected)

    def _owner_collected(self, _: object) -> None:
        # Runs inside garbage collection, maybe on a thread that holds one of our locks: take
        # none. Setting the flag and putting tokens is enough for the workers to finish and leave.
        self.shutdown_started = True
        for worker in self.balancer.workers:  # (no module globals: may run at interpreter exit)
            worker.inbox.put(None)

    # --- submitting ------------------------------------------------------------------------------

    def raise_closed(self) -> NoReturn:
        """Raise the error for a pool that takes no more work."""
        if self.broken is not None:
            raise PoolBrokenError(
                "a worker's initializer failed, so this pool runs nothing more: fix the "
                "initializer and create a new pool"
            ) from self.broken
        if _interpreter_exiting:
            raise PoolClosedError("cannot schedule new futures after interpreter shutdown")
        raise PoolClosedError("cannot schedule new futures after shutdown")

    def check_open(self) -> None:
        """Raise (see :meth:`raise_closed`) unless the pool takes new work."""
        if self.shutdown_started or _interpreter_exiting:
            self.raise_closed()

    def admit(self, task: Task) -> None:
        """Queue ``task`` unless ``max_queue`` tasks already wait (then ``QueueFull``)."""
        limit = self.max_queue
        if limit is None:
            self.push(task)
            return
        with self._admit_lock:
            waiting = self.balancer.queued()
            if waiting >= limit:
                raise QueueFull(
                    f"{waiting} tasks already wait in this pool (max_queue={limit}); retry "
                    "later (the pool emits 'drain' when its queue empties), or raise max_queue"
                )
            self.push(task)

    def push(self, task: Task) -> None:
        """Queue ``task`` and make sure that a worker will run it. Lock-free unless a worker must
        be started. Raises the closed error (and the task is not queued) when the pool was shut
        down meanwhile; if an initializer failed meanwhile, the task's future fails with the
        broken-pool error instead."""
        balancer = self.balancer
        if balancer.grow_before_push and self._nworkers < self.max_workers:
            self._spawn()
        try:
            if not balancer.push(task) and self._nworkers < self.max_workers:
                self._spawn()  # nobody was woken for it: grow (as ThreadPoolExecutor does)
            # Round-robin found no worker to deal it to (none yet, or its list was stale): deal
            # again. Outside a shutdown each pass either deals it or starts the worker it needs.
            while task.queue is None and not (self.shutdown_started or _interpreter_exiting):
                if not balancer.push(task) and task.queue is None:
                    self._spawn()
        except BaseException:  # e.g. no thread could be started: the task is not accepted
            queue = task.queue
            if queue is not None and queue.take(task):
                task.release()
            raise
        # Re-read after queueing: pairs with a worker's exit check (module docstring).
        if self.shutdown_started or _interpreter_exiting:
            queue = task.queue
            if queue is None or queue.take(task):
                if self.broken is not None:
                    # An initializer failed while we queued: the caller passed the open-pool
                    # check, so, as with ThreadPoolExecutor, the submit is accepted and its
                    # future fails with the broken-pool error (the first submit of a pool whose
                    # only worker breaks always gets a future, never a raise).
                    self._end_removed([task], broken=True)
                    return
                task.release()
                self.raise_closed()
            # else a worker (or a cancel_futures drain) took it: it is accepted and ends there

    def _spawn(self) -> PoolWorker | None:
        """Start one worker if the pool may grow; the worker, or None if none was started."""
        with _global_lock, self._lock:
            if self.shutdown_started or _interpreter_exiting or self._nworkers >= self.max_workers:
                return None
            worker = PoolWorker(new_thread_id(), f"{self.name_prefix}_{next(self._names)}", self)
            host: PoolHost = self  # (checked by mypy: the core provides what a worker needs)
            thread = threading.Thread(target=worker_main, args=(host, worker), name=worker.name)
            worker.thread = thread
            self._nworkers += 1
            self.balancer.attach(worker)
            try:
                thread.start()
            except BaseException:
                self._nworkers -= 1
                self.balancer.detach(worker)
                raise
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        return worker

    def start_workers(self, count: int) -> None:
        """Start workers until ``count`` exist (``min_workers`` at creation; ``broadcast``), and
        return once each new one has emitted ``"worker_create"`` (before its initializer runs):
        a listener added after the constructor then deterministically sees only the workers
        started later, as with Piscina, instead of racing the new threads."""
        started = []
        while self._nworkers < count and (worker := self._spawn()) is not None:
            started.append(worker)
        for worker in started:
            worker.announced.wait()

    @property
    def worker_count(self) -> int:
        """Workers alive or starting now."""
        return self._nworkers

    # --- called by the workers -------------------------------------------------------------------

    def worker_started(self, worker: PoolWorker) -> bool:
        """In the new worker's thread: announce it and run the initializer. False when the
        initializer failed (the pool is then broken and the worker leaves)."""
        try:
            if self.listeners.has("worker_create"):
                self.listeners.emit("worker_create", worker.thread_id)
        finally:
            worker.announced.set()
        if self._initializer is not None:
            try:
                self._initializer(*self._initargs)
            except BaseException as exc:
                self._initializer_failed(exc)
                return False
        return True

    def _initializer_failed(self, exc: BaseException) -> None:
        with self._lock:
            if self.broken is None:
                self.broken = exc
            self.shutdown_started = True
            workers = self.balancer.workers
        self._end_removed(self.balancer.drain(), broken=True)
        Balancer.wake_all(workers)
        if self.listeners.has("error"):
            self.listeners.emit("error", exc)
        else:  # as ThreadPoolExecutor; the futures carry the exception as their cause too
            concurrent.futures._base.LOGGER.critical("Exception in initializer:", exc_info=exc)

    def internal_error(self, exc: BaseException, where: str) -> None:
        """An error outside any task: to the ``"error"`` listeners, or reported (never silent)."""
        if self.listeners.has("error"):
            self.listeners.emit("error", exc)
        else:
            report(exc, where)

    def idle_timeout_for(self) -> float | None:
        """How long a parking worker may sleep before it considers retiring (None: forever)."""
        timeout = self.idle_timeout
        if timeout is None or self._nworkers <= self.min_workers:
            return None
        return timeout

    def try_exit(self, worker: PoolWorker) -> bool:
        """During shutdown: True when ``worker`` may leave (its private queue is empty)."""
        with worker.lock:
            if worker.private:
                return False
            worker.exited = True
        return True

    def try_retire(self, worker: PoolWorker) -> bool:
        """After ``idle_timeout`` idle seconds: True when ``worker`` leaves the pool (it has more
        than ``min_workers``). Pairs with :meth:`push`'s read of the worker count: after leaving,
        a task seen in the shared queue makes the worker come back (if the pool is not full,
        even during a shutdown)."""
        with self._lock:
            if self.shutdown_started or self._nworkers <= self.min_workers:
                return False
            with worker.lock:
                if worker.private:
                    return False
                worker.exited = True
            self._leave(worker)
        if self.balancer.has_shared_work():
            with self._lock:
                # Come back for it, also when a shutdown began meanwhile: no worker can be started
                # then, and the push that queued it counted this one, so it may be the only one
                # left to run what is queued (a shutdown lets queued tasks finish).
                if self._nworkers < self.max_workers:
                    with worker.lock:
                        worker.exited = False
                    self._nworkers += 1
                    self.balancer.attach(worker)
                    return False
        return True

    def _leave(self, worker: PoolWorker) -> None:
        # _lock held
        if worker in self.balancer.workers:
            self.balancer.detach(worker)
            self._nworkers -= 1

    def worker_exited(self, worker: PoolWorker) -> None:
        """In the leaving worker's thread, last thing: account for it, announce it."""
        with self._lock:
            self._leave(worker)
            self._retired.absorb(worker.counters)
            if self._nworkers == 0:
                # No task can be running: the timer thread ends too (a later arm() starts a new
                # one). Under _lock, so that no new worker can arm in between.
                self.timer.stop(join=False)
        if self.listeners.has("worker_exit"):
            self.listeners.emit("worker_exit", worker.thread_id)

    # --- ending tasks that no worker ran ---------------------------------------------------------

    def count_removed(self, task: Task) -> None:
        """A task cancelled before any worker took it: count it (and drop its references)."""
        size = task.size
        with self._removed_lock:
            self._removed.cancelled += size
        task.release()

    def _end_removed(
        self, tasks: list[Task], *, reason: object = None, broken: bool = False
    ) -> None:
        """End tasks drained from the queues (we own them): fail them with the broken-pool error,
        or cancel them with ``reason``."""
        cancelled = failed = 0
        for task in tasks:
            future = task.future
            if broken:
                error = PoolBrokenError(
                    "a worker's initializer failed, so this pool cannot run the task: fix the "
                    "initializer and create a new pool"
                )
                error.__cause__ = self.broken
                ended = future._set_exception_once(error)
            else:
                ended = future._cancel_once(reason)
            if ended and broken:
                failed += task.size
            else:  # cancelled now, or by its caller just before the drain took it
                cancelled += task.size
            task.release()
        if tasks:
            with self._removed_lock:
                self._removed.cancelled += cancelled
                self._removed.failed += failed

    # --- shutting down ---------------------------------------------------------------------------

    def shutdown(
        self, wait: bool = True, *, cancel_futures: bool = False, terminate: bool = False
    ) -> bool:
        """Stop taking work (idempotent). ``cancel_futures``: cancel what waits. ``terminate``:
        also cancel the tokens of running tasks (they stop at their next check) and cancel any
        task that starts from now on. With ``wait``, join the workers; returns False only when a
        worker could not be joined (it is the calling thread)."""
        with self._lock:
            self.shutdown_started = True
            if terminate:
                self.terminating = True
            workers = self.balancer.workers
        if cancel_futures or terminate:
            reason = TERMINATE_REASON if terminate else CANCEL_FUTURES_REASON
            self._end_removed(self.balancer.drain(), reason=reason)
        if terminate:
            # After the store of `terminating` and the lock (a full barrier): a worker either has
            # stored its task in state.task_token before (we cancel it here) or reads
            # `terminating` after (and cancels the task itself).
            for worker in workers:
                token = worker.state.task_token
                if token is not None:
                    token.cancel(TERMINATE_REASON)
        Balancer.wake_all(workers)
        if wait:
            return self.join()
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Wait for every worker (and then the timer thread) to end; False on timeout. The
        calling thread is skipped when it is a worker of this pool."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        me = threading.current_thread()
        for thread in threads:
            if thread is me:
                continue
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        if self._nworkers == 0:
            self.timer.stop(join=True)
        return True

    # --- statistics ------------------------------------------------------------------------------

    def stats(self) -> PoolStats:
        """A snapshot; see :class:`~ftpool.PoolStats`. Reads the workers' single-writer counters
        without stopping them."""
        totals = WorkerCounters()
        with self._lock:
            workers = self.balancer.workers
            totals.absorb(self._retired)
        with self._removed_lock:
            removed_cancelled = self._removed.cancelled
            removed_failed = self._removed.failed
        totals.cancelled += removed_cancelled
        totals.failed += removed_failed
        now = _perf_counter()
        running = idle = 0
        busy = totals.busy
        run_samples = totals.run_times()
        wait_samples = totals.wait_times()
        completed, failed = totals.completed, totals.failed
        cancelled, timed_out = totals.cancelled, totals.timed_out
        for worker in workers:
            counters = worker.counters
            # the counts before running_since: the worker writes them in the other order
            completed += counters.completed
            failed += counters.failed
            cancelled += counters.cancelled
            timed_out += counters.timed_out
            busy += counters.busy
            since = counters.running_since
            if since:
                running += 1
                busy += max(0.0, now - since)
            if worker.parked:
                idle += 1
            run_samples += counters.run_times()
            wait_samples += counters.wait_times()
        elapsed = max(now - self.created, 1e-9)
        return PoolStats(
            workers=len(workers),
            idle_workers=idle,
            max_workers=self.max_workers,
            min_workers=self.min_workers,
            queued=self.balancer.queued(),
            running=running,
            completed=completed,
            failed=failed,
            cancelled=cancelled,
            timed_out=timed_out,
            utilization=min(1.0, busy / (elapsed * self.max_workers)),
            run_time=TimingSummary.of(run_samples),
            wait_time=TimingSummary.of(wait_samples),
        )
