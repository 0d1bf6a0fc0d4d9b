"""One pool worker: its per-thread record (:class:`PoolWorker`) and its loop (:func:`worker_main`).

A worker takes tasks from its balancer, runs each with its :class:`~ftpool._context.ThreadState`
pointing at the task's token (so ``check_cancelled()`` works inside), ends the task's future exactly
once, and counts what happened in its own :class:`~ftpool._pool.stats.WorkerCounters` (it is their
only writer, so no lock and no atomic is needed). A task's exception goes into its future; it
never ends the worker. When there is nothing to do the worker parks (see ``balancer``); it
leaves when the pool shuts down and its queues are empty, or after ``idle_timeout`` idle seconds
when the pool has more than ``min_workers``.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any, Protocol

from .._context import ThreadState, set_state
from .._errors import Terminated
from .stats import SAMPLES_PER_WORKER, WorkerCounters
from .task import PoolFuture, Task
from .taskqueue import QueueOwner, TaskQueue

if TYPE_CHECKING:
    from .._events import Listeners
    from .balancer import Balancer
    from .timer import TimeoutTimer

__all__ = ["TERMINATE_REASON", "PoolHost", "PoolWorker", "worker_main"]


class PoolHost(QueueOwner[Task], Protocol):
    """What a worker needs from its pool (the pool core is one; this module never imports it):
    the dispatch, the flags it reads between tasks, the timer, and the calls at its start, when
    idle, and at its end. The loop reads these as plain attributes, as before: a Protocol is a
    type, not a wrapper, so it costs nothing per task."""

    @property
    def balancer(self) -> Balancer:
        """Where tasks wait, and how this worker parks and is woken."""
        ...

    @property
    def listeners(self) -> Listeners:
        """The pool's event listeners (``drain``)."""
        ...

    @property
    def timer(self) -> TimeoutTimer:
        """The thread that fails tasks whose ``timeout=`` ran out."""
        ...

    @property
    def shutdown_started(self) -> bool:
        """No new work: leave once the queues are empty."""
        ...

    @property
    def terminating(self) -> bool:
        """``terminate()`` was called: tasks that start from now on are cancelled."""
        ...

    @property
    def drain_listened(self) -> bool:
        """Someone listens for ``drain`` (read per task)."""
        ...

    def worker_started(self, worker: PoolWorker, /) -> bool:
        """In the new worker's thread: announce it, run the initializer (False: it failed)."""
        ...

    def worker_exited(self, worker: PoolWorker, /) -> None:
        """In the leaving worker's thread, last thing."""
        ...

    def internal_error(self, exc: BaseException, where: str, /) -> None:
        """Report an error raised outside any task."""
        ...

    def idle_timeout_for(self) -> float | None:
        """How long a parking worker may sleep before it considers retiring."""
        ...

    def try_exit(self, worker: PoolWorker, /) -> bool:
        """During shutdown: True when ``worker`` may leave."""
        ...

    def try_retire(self, worker: PoolWorker, /) -> bool:
        """After an idle timeout: True when ``worker`` leaves the pool."""
        ...

TERMINATE_REASON = "the pool was terminated"

_perf_counter = time.perf_counter
#: Marks (in the loop's ``error``) a task that ended after its deadline.
_ENDED_LATE = TimeoutError("the task ended after its deadline")
_monotonic = time.monotonic
_Task = Task
#: What a task raises when it stops because its own token was cancelled.
_STOPPED_BY_TOKEN = (CancelledError, Terminated)


class PoolWorker:
    """What the pool knows about one worker thread.

    ``lock`` guards ``private`` appends, ``parked`` and ``exited`` (the worker's own lock: pushes
    to this worker and its parking/exit take it, nothing pool-wide). ``inbox`` receives wake
    tokens. ``state.task_token`` is the task running now (read by ``terminate()``);
    ``deadline`` the ``(monotonic deadline, task)`` of a running task with a timeout (read by the
    timer thread).
    """

    __slots__ = ("__weakref__", "announced", "counters", "deadline", "exited", "inbox", "lock",
                 "name", "parked", "private", "state", "thread", "thread_id")

    def __init__(self, thread_id: int, name: str, owner: QueueOwner[Task]) -> None:
        self.thread_id = thread_id
        self.name = name
        self.state = ThreadState(thread_id=thread_id)
        self.lock = threading.Lock()  # guards: private appends, parked, exited
        self.private: TaskQueue[Task] = TaskQueue(owner)
        self.inbox: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.parked = False
        self.exited = False
        self.counters = WorkerCounters()
        self.deadline: tuple[float, Task] | None = None
        self.thread: threading.Thread | None = None
        # set once the thread has emitted (or skipped) "worker_create": PoolCore.start_workers
        # waits for it, so the workers a constructor starts are announced before it returns
        self.announced = threading.Event()

    def __repr__(self) -> str:
        return f"<PoolWorker {self.name} thread_id={self.thread_id}>"


def worker_main(core: PoolHost, worker: PoolWorker) -> None:
    """The body of a worker thread."""
    set_state(worker.state)
    try:
        if core.worker_started(worker):
            _loop(core, worker)
    except BaseException as exc:  # a bug in the pool, never a task's exception (those are caught)
        core.internal_error(exc, f"pool worker {worker.name}")
    finally:
        worker.exited = True
        core.worker_exited(worker)
        set_state(None)


def _count_timed_out(counters: WorkerCounters, size: int) -> None:
    """A task that the timer failed with ``TimeoutError`` before its worker could end it."""
    counters.failed += size
    counters.timed_out += size


def _loop(core: PoolHost, worker: PoolWorker) -> None:
    """Take tasks and run them until the pool shuts down or this worker retires.

    One function with the hot names in locals: on 3.13t the interpreter does not specialize, so
    every attribute lookup and call saved here is saved per task.
    """
    balancer = core.balancer
    next_task = balancer.next_task
    park = balancer.park
    state = worker.state
    counters = worker.counters
    run_ring = counters.run_ring
    wait_ring = counters.wait_ring
    perf_counter = _perf_counter
    plain_task = _Task
    future: PoolFuture[Any] | None = None
    result: Any = None
    deadline = 0.0
    while True:
        task = next_task(worker)
        if task is None:
            future = result = None  # hold nothing while idle
            if core.shutdown_started:
                # Look again after seeing the flag: a submit that did not see it yet has queued
                # its task before (see PoolCore.push), so this second look finds it.
                task = next_task(worker)
                if task is None:
                    if core.try_exit(worker):
                        return
                    continue
            elif not park(worker, core.idle_timeout_for()):
                if core.try_retire(worker):
                    return
                continue
            else:
                continue
        if core.drain_listened and not balancer.queued():
            core.listeners.emit("drain")
        future = task.future
        size = task.size
        # Stored before _start()'s lock (a full barrier), then `terminating` is read: pairs with
        # PoolCore.shutdown(terminate=True), which stores `terminating` and then reads this.
        state.task_token = task
        if not future._start():  # cancelled while it waited; we took it, so we count it
            state.task_token = None
            counters.cancelled += size
            task.release()
            continue
        if core.terminating:
            state.task_token = None
            if future._cancel_once(TERMINATE_REASON, running=True):
                counters.cancelled += size
            task.release()
            continue
        start = perf_counter()
        counters.running_since = start
        timeout = task.timeout
        if timeout is not None:
            # The deadline is held three ways: check_cancelled() (and every ftpool wait) compares
            # the clock with state.task_deadline; the timer fails the future at the deadline;
            # and a task that ends after it ends with TimeoutError below, however late the
            # timer thread got a CPU.
            deadline = _monotonic() + timeout
            state.task_deadline = deadline
            core.timer.arm(worker, deadline, task)
        error: BaseException | None = None
        try:
            result = task.execute()
        except BaseException as exc:
            error = exc
        if timeout is not None and _monotonic() >= deadline:
            # Ended after its deadline: whatever it returned or raised is discarded and it
            # times out below (one test per task without a timeout, on the hot path).
            error = _ENDED_LATE
        # Everything is counted BEFORE the future ends: ending it wakes the waiters and runs the
        # done-callbacks, and stats() read after result() (or map reading task.elapsed) must
        # see this task. The worker is marked idle first: stats() reads the counts before
        # running_since, so a task is never seen both done and running.
        end = perf_counter()
        counters.running_since = 0.0
        elapsed = end - start
        counters.busy += elapsed
        samples = counters.samples
        index = samples % SAMPLES_PER_WORKER
        wait_ring[index] = start - task.enqueued
        if size == 1:
            run_ring[index] = elapsed
        else:
            run_ring[index] = elapsed / size
            task.elapsed = elapsed  # for map's adaptive chunk size
        counters.samples = samples + 1
        if error is None:
            if task.__class__ is plain_task:
                counters.completed += 1
                if not future._set_result_once(result):  # the timer had failed it first
                    counters.completed -= 1
                    _count_timed_out(counters, size)
            else:
                before = counters.completed, counters.failed, counters.cancelled
                task.tally(counters, result)
                if not future._set_result_once(result):  # the timer had failed it first
                    counters.completed, counters.failed, counters.cancelled = before
                    _count_timed_out(counters, size)
            result = None
        elif error is _ENDED_LATE:
            # Counted as timed out, then the future fails with TimeoutError, unless the timer
            # thread did that already (while the task runs, only the timer and this worker end
            # its future).
            _count_timed_out(counters, size)
            task.expire()
            result = None
        elif task._cancelled and isinstance(error, _STOPPED_BY_TOKEN):
            # it stopped at a check of its own token (check_cancelled() raises Cancelled; a wait
            # woken by Pool.terminate() raises Terminated, see _wakeup): the future ends cancelled
            counters.cancelled += size
            if not future._cancel_once(task._reason, running=True):  # the timer failed it first
                counters.cancelled -= size
                _count_timed_out(counters, size)
        else:
            counters.failed += size
            if not future._set_exception_once(error):  # the timer had failed it first
                counters.timed_out += size
        error = None
        state.task_token = None
        if timeout is not None:
            state.task_deadline = None
            worker.deadline = None
        if task.__class__ is plain_task and task.linked is None:
            future._task = None  # Task.release(), inlined for the common case
        else:
            task.release()
