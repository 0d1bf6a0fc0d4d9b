"""``ftpool.dask.DaskPool``: the :class:`~ftpool.Pool` surface on a Dask ``distributed`` cluster.

``from ftpool.dask import DaskPool`` needs the optional extra (``pip install 'ftpool[dask]'``, which
installs ``distributed``); ``import ftpool`` alone never imports it. Code written for ``Pool`` runs
unchanged: the same ``submit``/``map``/``run``/``broadcast`` calls, the same futures, and inside a
task the same ``check_cancelled()``, ``thread_id()``, ``is_main_thread()`` and ``worker_data()``.

How it works (one round trip per task is the scheduler's; nothing here adds another):

* Every task is one Dask task whose key this pool chooses (``ftpool-<pool>-<n>``). It runs a small
  wrapper on the Dask worker (``ftpool.dask.remote.execute``) that installs an ftpool thread
  state for the task (a ``RemoteToken`` as ``task_token``, the ``timeout=`` deadline as
  ``task_deadline``), calls the function, and returns ``(ok, result or exception, run time)``:
  a task's exception travels back as a value, with the worker's traceback as a note. ``map``
  sends chunks (Pool's chunking, reused from ``ftpool._pool.map``), so tiny calls pay the
  scheduler's per-task cost once per chunk.
* Cancelling reaches a running task through one ``distributed.Variable`` per pool, the *cancel
  record* ``{key: reason}`` (``"*"`` means every task: ``terminate()``). The client writes it from
  its event loop, never blocking the caller; a task's ``check_cancelled()`` reads a per-process
  cached copy, refreshed at most every :data:`CANCEL_REFRESH_SECONDS` by whichever task thread
  checks first (one scheduler round trip, about 1 ms, per refresh and process; the other threads
  use the cached copy meanwhile and never wait). A ``timeout=`` is enforced on the worker itself
  from the task's own start, and the client times it from the task's start event (below).
  Closing a pool deletes its record, unless it names a task (a cancelled task may still be
  running until it sees its entry): then the record, a few dozen bytes per cancelled task, stays
  on the scheduler.
* The client side is a :class:`~ftpool.PoolFuture` per task (``ftpool._pool.task.Task``), ended
  exactly once by the pool's collector thread: Dask's completion callbacks hand the finished
  tasks over, and the collector fetches each batch's results in one ``gather``. So done-callbacks
  of these futures run on that thread (``ftpool-<pool>-results``): do not block in them.

What is honoured only in part, and why:

* ``Future.cancel()`` always ends a pending future cancelled at once and returns True: the client
  cannot know, without a round trip, whether the task waits in the scheduler or already runs on a
  worker. A waiting task is dropped by the scheduler; a running one is asked to stop (its next
  ``check_cancelled()`` raises ``Cancelled``, within a few ms) and its result, if it still
  returns one, is discarded.
* ``timeout=`` counts from the task's start on the worker, as in ``Pool``: the task announces
  its start (a scheduler event, sent only by tasks with a timeout), and the client's event loop
  fails the future with ``TimeoutError`` when the timeout has passed since that announcement
  arrived (late by the event's transit time, a few ms), then cancels the task through the record.
  The worker enforces the deadline too, with its own clock: ``check_cancelled()`` raises once it
  has passed, and a task that returns after it ends with ``TimeoutError``.
* A task blocked in an ftpool wait (a ``Channel`` inside the task) is woken by its ``timeout=``
  deadline but by a cancel only once it checks again: nothing pushes the cancel record to a
  worker. Channels, ports, ``Worker`` and ``SharedBuffer`` stay within one process: they cannot
  connect a task on one machine with a thread on another.
* ``stats()``: the cluster's threads stand for ``workers``; ``queued``/``running`` are estimates
  (this pool's unfinished tasks beyond / within the cluster's thread count); ``wait_time`` is the
  submit-to-result latency minus the run time (scheduling and transfer included). One scheduler
  round trip to count the threads.
* ``max_queue=N``: ``submit``/``run`` raise ``QueueFull`` once N tasks wait by that estimate;
  ``map``/``imap_unordered`` keep at most N chunks in flight, as in ``Pool``.
* Events: ``"drain"`` when the estimated queue empties, ``"error"`` for errors outside any task
  (on Dask's callback thread); ``"worker_create"``/``"worker_exit"`` (with the worker's address)
  when the scheduler adds or removes a Dask worker, through the scheduler's ``"all"`` event topic
  (on the client's event loop: do not block in them).
* ``broadcast(fn, *args)`` runs once on every Dask worker *process* known now (pinned there with
  ``workers=``), not once per thread.
* Inside a task: ``is_main_thread()`` is False; ``thread_id()`` is a unique id per Dask worker
  thread *within its worker process* (ids start at 1 in every process; use
  ``distributed.get_worker().address`` to tell processes apart); ``worker_data()`` is None, as in
  a ``Pool`` worker.

Faults: a worker process that dies while it runs a task makes the scheduler run it again on
another worker (``distributed.scheduler.allowed-failures`` times); after that the future fails
with ``distributed.KilledWorker`` (with a note). Results a dying worker held before the client
fetched them are computed again, and their futures wait for that: a task may run more than once,
its future ends once. A scheduler that cannot be
reached raises ``TimeoutError`` from ``DaskPool(address)`` within ``connect_timeout``. A function
or argument that cannot be pickled raises ``TypeError`` from ``submit``/``run``, naming it. If the
cluster drops a task (the scheduler connection is lost), its future fails with :class:`TaskLost`.

Running the workers: each Dask worker process runs tasks on ``--nthreads`` threads; on 3.13t with
``PYTHON_GIL=0`` they run Python code in parallel. See README ("Beyond one machine").
"""

from __future__ import annotations

try:
    import distributed  # noqa: F401  (the optional extra: fail here, with how to install it)
except ImportError as _missing:
    raise ImportError(
        "ftpool.dask needs the 'distributed' package: pip install 'ftpool[dask]' (or "
        "pip install distributed)"
    ) from _missing

from .pool import CONNECT_TIMEOUT, DaskPool, TaskLost, local_cluster
from .remote import CANCEL_REFRESH_SECONDS

__all__ = ["CANCEL_REFRESH_SECONDS", "CONNECT_TIMEOUT", "DaskPool", "TaskLost", "local_cluster"]
