"""Stress rounds for the Pool: tasks that return, raise, time out, get cancelled queued and
running, from several producers at once, while an ender closes, terminates, shuts down or drops
the pool mid-stream (see stress_engine.py for the engine and how to add a round)."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import os
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import Any

from stress_engine import WAIT, Hung, PhasedRound, Round, Scenario, StressError, start_thread

import ftpool
from ftpool import Pool, check_cancelled
from ftpool._context import current_state


class InitError(Exception):
    """The exception of a failing initializer."""


# kind -> (how it is submitted, what it does)
POOL_KINDS = (
    "ok",  # submit(): returns its value
    "raise",  # submit(): raises StressError
    "run",  # run(): returns its value through the pool's default task
    "cancel_queued",  # submit(), then future.cancel() at once from the producer
    "cancel_running",  # submit() of a cooperative task, cancelled once it started
    "token",  # run(cancel=token) of a cooperative task; the token is cancelled before or at start
    "timeout",  # run(timeout=t) of a cooperative task that would run for WAIT seconds
    "slow",  # submit() of a task that runs a few ms and never checks (cancel cannot stop it)
)
COOPERATIVE = frozenset({"cancel_running", "token", "timeout"})
ENDERS = ("close_end", "close", "terminate", "shutdown_cancel", "shutdown_nowait", "drop")
#: The run(timeout=...) of "timeout" tasks, by task index.
TASK_TIMEOUTS = (0.0, 0.0005, 0.002, 0.01)


@dataclass(eq=False)
class TaskRecord:
    index: int
    kind: str
    arg: int
    runs: int = 0  # how often the body started (under the round lock)
    callbacks: int = 0  # how often the counting done-callback ran (under the round lock)
    future: cf.Future[Any] | None = None
    cancel_returned: bool | None = None
    token: ftpool.CancelToken | None = None
    ready: threading.Event = field(default_factory=threading.Event)  # future stored
    early_token_cancel: bool = False

    @property
    def expected(self) -> tuple[int, int]:
        return (self.index, self.arg * self.arg)


class PoolTasks:
    """What the pool's tasks run and see (kept apart from the round, which holds the pool, so
    that the pool's reference to its default task does not keep the pool itself alive)."""

    def __init__(self, rnd: Round) -> None:
        self.rnd = rnd
        self.started: SimpleQueue[TaskRecord | None] = SimpleQueue()  # cooperative tasks started

    def body(self, record: TaskRecord) -> tuple[int, int]:
        """What every task runs (``record.kind`` says how)."""
        with self.rnd.lock:
            record.runs += 1
        kind = record.kind
        if kind == "raise":
            raise StressError(record.index)
        if kind == "slow":
            time.sleep(0.001 * (record.index % 4))  # a task that never checks its token
        elif kind in COOPERATIVE:
            self.cooperate(record)
        return record.expected

    def cooperate(self, record: TaskRecord) -> None:
        """Block until this task is cancelled (woken by its token, no polling), then let
        check_cancelled() end it; a task nobody cancels returns after WAIT seconds."""
        state = current_state()
        assert state is not None, "not in a pool task"
        assert state.task_token is not None, "not in a pool task"
        token = state.task_token
        woken = threading.Event()

        def wake(_reason: object) -> None:
            woken.set()

        if not token.add_callback(wake):
            woken.set()
        if record.kind != "timeout":
            self.started.put(record)  # the canceller cancels it now that it runs
        try:
            woken.wait(WAIT)
        finally:
            token.remove_callback(wake)
        check_cancelled()


def failing_initializer(rnd: Round, fail_at: int) -> Callable[[], None]:
    """An initializer whose call number ``fail_at`` (over all workers) raises InitError."""
    calls = [0]

    def initializer() -> None:
        with rnd.lock:
            calls[0] += 1
            call = calls[0]
        if call == fail_at:
            raise InitError(call)

    return initializer


class PoolRound(PhasedRound):
    """Tasks of every kind from 1-4 producers; a canceller cancels cooperative tasks once they
    run; the ender ends the pool after a random number of submits."""

    def setup(self) -> None:
        rnd, rng = self.rnd, self.rng
        self.tasks = PoolTasks(rnd)
        max_workers = rng.randint(1, 4)
        config: dict[str, Any] = {
            "max_workers": max_workers,
            "balancer": rng.choice(["least-busy", "round-robin"]),
            "thread_name_prefix": f"stress-pool-{rnd.label}",
        }
        if rng.random() < 0.3:
            config["min_workers"] = rng.randint(0, max_workers)
        if rng.random() < 0.3:
            config["idle_timeout"] = rng.choice([0.0, 0.001, 0.02])
        if rng.random() < 0.2:
            config["max_queue"] = rng.randint(1, 40)
        self.fail_init_at = rng.randint(1, max_workers + 1) if rng.random() < 0.12 else 0
        if self.fail_init_at:
            rnd.fault("initializer raised")
            config["initializer"] = failing_initializer(rnd, self.fail_init_at)
        self.raising_listener = rng.random() < 0.1
        self.ender = rng.choice(ENDERS)
        if self.ender != "close_end":
            rnd.fault(f"pool {self.ender} mid-stream")
        count = rng.randint(20, 300)
        weights = [rng.random() for _ in POOL_KINDS]
        self.records = [
            TaskRecord(i, rng.choices(POOL_KINDS, weights)[0], rng.randint(-1000, 1000))
            for i in range(count)
        ]
        for record in self.records:
            if record.kind == "token":
                record.early_token_cancel = rng.random() < 0.5
        self.raising_callbacks = {i for i in range(count) if rng.random() < 0.05}
        self.trigger_at = rng.randint(0, count)
        self.producers = rng.randint(1, 4)
        self.ender_waits = rng.random() < 0.5  # shutdown_cancel: shutdown(wait=True) or close()

        rnd.setup = (f"Pool({', '.join(f'{k}={v!r}' for k, v in config.items())}), {count} "
                     f"tasks from {self.producers} producers, ender {self.ender} after "
                     f"{self.trigger_at} submits, initializer fails at call "
                     f"{self.fail_init_at or 'never'}")
        # the only reference to the pool, so that the "drop" ender can let it go
        self.holder: dict[str, Pool] = {"pool": Pool(task=self.tasks.body, **config)}
        self.init_errors: list[BaseException] = []
        self.holder["pool"].on("error", self.init_errors.append)
        if self.raising_listener:
            rnd.fault("pool listener raised")
            self.holder["pool"].on("worker_create", _raise_listener)
        self.trigger = threading.Event()  # the ender may go
        self.accepted: list[TaskRecord] = []
        self.submitted = 0  # under the round lock
        self.ended = threading.Event()  # the canceller may stop
        self.called = 0  # done-callbacks run so far
        self.all_called = threading.Condition(rnd.lock)  # announces: another done-callback ran
        self.canceller: threading.Thread | None = None

    # --- drive -------------------------------------------------------------------------------

    def drive(self) -> None:
        rnd = self.rnd
        shares = [self.records[i::self.producers] for i in range(self.producers)]
        self.canceller = start_thread(self.cancel_started, f"stress-canceller-{rnd.label}")
        threads = [start_thread(lambda m=m: self.produce(m), f"stress-producer-{rnd.label}-{i}")
                   for i, m in enumerate(shares)]
        enders = []
        if self.ender not in ("close_end", "drop"):
            enders.append(start_thread(self.fault, f"stress-ender-{rnd.label}"))
        rnd.join(threads, "pool producers")
        self.trigger.set()
        rnd.join(enders, "pool ender")
        self.close_or_drop()
        self.wait_all_ended()

    def record_end(self, record: TaskRecord) -> Callable[[cf.Future[Any]], None]:
        """The counting done-callback of one task."""

        def callback(_future: cf.Future[Any]) -> None:
            with self.all_called:
                record.callbacks += 1
                self.called += 1
                self.all_called.notify_all()

        return callback

    def submit_one(self, pool: Pool, record: TaskRecord) -> cf.Future[Any]:
        kind = record.kind
        if kind in ("ok", "raise", "slow", "cancel_queued", "cancel_running"):
            return pool.submit(self.tasks.body, record)
        if kind == "run":
            return pool.run(record)
        if kind == "token":
            record.token = ftpool.CancelToken()
            return pool.run(record, cancel=record.token)
        assert kind == "timeout"
        return pool.run(record, timeout=TASK_TIMEOUTS[record.index % len(TASK_TIMEOUTS)])

    def produce(self, mine: list[TaskRecord]) -> None:
        """A producer thread: submit its share of the tasks until the pool refuses."""
        rnd = self.rnd
        for record in mine:
            pool = self.holder.get("pool")
            if pool is None:
                return
            try:
                future = self.submit_one(pool, record)
            except (RuntimeError, ftpool.QueueFull, ftpool.BrokenPool) as exc:
                with rnd.lock:
                    rnd.tally.rejected += 1
                if isinstance(exc, ftpool.QueueFull):
                    continue
                return  # closed or broken: every later submit fails too
            finally:
                with rnd.lock:
                    self.submitted += 1
                    if self.submitted >= self.trigger_at:
                        self.trigger.set()
            if record.index in self.raising_callbacks:
                future.add_done_callback(_raise_callback)
            future.add_done_callback(self.record_end(record))
            record.future = future
            record.ready.set()
            with rnd.lock:
                self.accepted.append(record)
            if record.kind == "cancel_queued":
                record.cancel_returned = future.cancel()
            elif record.kind == "token" and record.early_token_cancel:
                assert record.token is not None
                record.token.cancel("early")

    def cancel_started(self) -> None:
        """The canceller thread: cancel each cooperative task once it runs (in whatever order
        they start)."""
        rnd = self.rnd
        while True:
            try:
                record = self.tasks.started.get(timeout=WAIT)
            except Empty:
                if self.ended.is_set():
                    return
                continue
            if record is None:
                return
            if not record.ready.wait(WAIT):
                rnd.problem("hung", f"task {record.index} ran but its submit never returned")
                continue
            if record.kind == "token":
                assert record.token is not None
                record.token.cancel("at start")
            else:
                assert record.future is not None
                returned = record.future.cancel()
                # Running: False (it is not cancelled *yet*), unless terminate() cancelled it
                # first: a cancelled future answers True (test_pool_cancel pins that).
                if returned and self.ender != "terminate":
                    rnd.problem("violations", f"cancel() of running task {record.index} "
                                "returned True")

    def close_or_drop(self) -> None:
        """After the ender: close the pool, or ("drop") let go of its last reference."""
        if self.ender == "drop":
            self.holder.clear()  # the last reference: the pool shuts down by itself, finishing work
            gc.collect()
            return
        try:
            self.holder["pool"].close(timeout=WAIT)
        except TimeoutError:
            raise self.rnd.hung(f"close() after {self.ender} did not finish within {WAIT} s"
                                ) from None

    def wait_all_ended(self) -> None:
        """Every accepted task's future is done and its done-callbacks ran."""
        rnd = self.rnd
        try:
            rnd.wait_futures([r.future for r in self.accepted if r.future is not None],
                             "pool tasks")
        except Hung:
            _describe_pending(rnd, self.accepted)
            if self.init_errors:
                rnd.problems.append(f"pool 'error' events: {self.init_errors!r}")
                for exc in self.init_errors:
                    rnd.problems.append("".join(traceback.format_exception(exc)))
            raise
        # a future is done (and wait() returns) before its done-callbacks run: wait for them
        with self.all_called:
            if not self.all_called.wait_for(lambda: self.called >= len(self.accepted), WAIT):
                raise rnd.hung(f"{len(self.accepted) - self.called} done-callbacks never ran")

    # --- fault -------------------------------------------------------------------------------

    def fault(self) -> None:
        """The ender thread: once enough tasks were submitted, end the pool mid-stream."""
        self.trigger.wait(WAIT)
        pool = self.holder.get("pool")
        if pool is None:
            return
        ender = self.ender
        try:
            if ender == "close":
                pool.close(timeout=WAIT)
            elif ender == "terminate":
                pool.terminate(timeout=WAIT)
            elif ender == "shutdown_cancel":
                if self.ender_waits:
                    pool.shutdown(wait=True, cancel_futures=True)
                else:
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool.close(timeout=WAIT)
            elif ender == "shutdown_nowait":
                pool.shutdown(wait=False)
        except TimeoutError:
            self.rnd.problem("hung", f"pool {ender} did not finish within {WAIT} s")

    # --- finish ------------------------------------------------------------------------------

    def finish(self) -> None:
        self.ended.set()
        self.tasks.started.put(None)
        if self.canceller is not None:
            self.canceller.join(WAIT)
        if "pool" in self.holder:
            with contextlib.suppress(TimeoutError):
                self.holder["pool"].terminate(timeout=WAIT)

    # --- check -------------------------------------------------------------------------------

    def check(self) -> None:
        rnd = self.rnd
        outcomes = self.check_outcomes()
        never_accepted = [r for r in self.records if r.future is None and r.runs]
        if never_accepted:
            rnd.problem("violations", f"{len(never_accepted)} tasks ran although their submit "
                        f"raised, e.g. {never_accepted[0].index}")
        self.check_stats(outcomes)
        self.check_reports()
        kinds = Counter(r.kind for r in self.accepted)
        for kind in ("raise", "cancel_queued", "cancel_running", "token", "timeout"):
            if kinds[kind]:
                rnd.fault(f"task {kind}", kinds[kind])
        if self.raising_callbacks:
            rnd.fault("done-callback raised", len([r for r in self.accepted
                                                   if r.index in self.raising_callbacks]))
        rnd.tally.tasks += len(self.accepted)
        rnd.tally.outcomes.update(outcomes)

    def check_outcomes(self) -> Counter[str]:
        """Each accepted task ended once, in a way its kind allows; the outcomes, counted
        (and in ``self.timed_out`` the exceptions that were TimeoutError, for check_stats)."""
        rnd, ender = self.rnd, self.ender
        outcomes: Counter[str] = Counter()
        timed_out = 0
        cancel_everything = ender in ("terminate", "shutdown_cancel")
        for record in self.accepted:
            future = record.future
            assert future is not None
            where = f"task {record.index} ({record.kind}, ender {ender})"
            if not future.done():
                continue  # counted as hung by wait_futures
            if record.callbacks != 1:
                rnd.problem("duplicated" if record.callbacks > 1 else "lost",
                            f"{where}: its done-callback ran {record.callbacks} times")
            if record.runs > 1:
                rnd.problem("duplicated", f"{where}: ran {record.runs} times")
            if future.cancelled():
                outcome = "cancelled"
                # terminate may also cancel a "timeout" task before its timer fires
                allowed = cancel_everything or record.kind in ("cancel_queued",
                                                               "cancel_running", "token")
            else:
                exc = future.exception()
                if exc is None:
                    outcome = "result"
                    allowed = record.runs == 1 and record.kind not in COOPERATIVE | {"raise"}
                    if future.result() != record.expected:
                        rnd.problem("violations", f"{where}: wrong result {future.result()!r}")
                else:
                    outcome = "exception"
                    if isinstance(exc, ftpool.BrokenPool):
                        allowed = bool(self.fail_init_at) and record.runs == 0
                    elif isinstance(exc, TimeoutError):
                        allowed = record.kind == "timeout"
                        timed_out += 1
                    elif isinstance(exc, StressError):
                        allowed = record.kind == "raise" and record.runs == 1
                    else:
                        allowed = False
                    if not allowed:
                        rnd.problem("violations", f"{where}: unexpected exception {exc!r}")
                        continue
            if record.cancel_returned and outcome != "cancelled":
                rnd.problem("violations",
                            f"{where}: cancel() returned True but it ended {outcome}")
            if record.cancel_returned and record.runs:
                rnd.problem("violations", f"{where}: cancel() returned True but the task ran")
            if not allowed:
                rnd.problem("violations", f"{where}: ended {outcome} (ran {record.runs} times)")
            outcomes[outcome] += 1
        self.timed_out = timed_out
        return outcomes

    def check_stats(self, outcomes: Counter[str]) -> None:
        """The pool's stats() agree with the futures, and nothing is left after close."""
        pool = self.holder.get("pool")
        if pool is None:
            return
        rnd = self.rnd
        stats = pool.stats()
        counted = (stats.completed, stats.failed, stats.cancelled, stats.timed_out)
        expected = (outcomes["result"], outcomes["exception"], outcomes["cancelled"],
                    self.timed_out)
        if counted != expected:
            rnd.problem("violations", f"stats() (completed, failed, cancelled, timed_out) = "
                        f"{counted}, the futures say {expected}")
        if (stats.queued, stats.running, stats.workers) != (0, 0, 0):
            rnd.problem("violations", f"after close: queued={stats.queued} "
                        f"running={stats.running} workers={stats.workers}")

    def check_reports(self) -> None:
        """Only the injected listener errors reached threading.excepthook; only the
        initializer's errors were 'error' events."""
        rnd = self.rnd
        expected_reports = 0
        if self.raising_listener:
            expected_reports = sum(1 for e in rnd.reports if isinstance(e, StressError))
        unexpected = [e for e in rnd.reports if not isinstance(e, StressError)]
        if unexpected or len(rnd.reports) != expected_reports:
            rnd.problem("violations",
                        f"unexpected reports to threading.excepthook: {unexpected!r}")
        if self.init_errors and not all(isinstance(e, InitError) for e in self.init_errors):
            rnd.problem("violations", f"pool 'error' events that are not the initializer's: "
                        f"{self.init_errors!r}")


# --- deadlines on an oversubscribed machine ----------------------------------------------------

#: Kinds of DeadlineRound tasks: each "past" kind runs longer than its timeout, so it must end
#: with TimeoutError whatever it does at its end; "in_time" must keep its result.
DEADLINE_KINDS = (
    "check_past",  # spins on check_cancelled() past its deadline (stopped there), then returns
    "catch_past",  # spins on check_cancelled(), swallows the Cancelled, returns after its deadline
    "ignore_past",  # spins without checking, returns a result after its deadline
    "raise_past",  # spins without checking, raises StressError after its deadline
    "in_time",  # returns at once, with a generous timeout
)
#: The run(timeout=...) of the "past" kinds.
DEADLINE_TIMEOUTS = (0.0005, 0.002, 0.005)


@dataclass(eq=False)
class DeadlineRecord:
    index: int
    kind: str
    timeout: float
    work: float  # seconds the body runs, counted from its own start (after the deadline was set)
    future: cf.Future[Any] | None = None

    @property
    def past(self) -> bool:
        return self.kind != "in_time"


def deadline_body(record: DeadlineRecord) -> tuple[int, str]:
    """What every DeadlineRound task runs (``record.kind`` says how)."""
    end = time.monotonic() + record.work
    kind = record.kind
    if kind == "check_past":
        while time.monotonic() < end:
            check_cancelled()
    elif kind == "catch_past":
        while time.monotonic() < end:
            with contextlib.suppress(ftpool.Cancelled):
                check_cancelled()
    elif kind in ("ignore_past", "raise_past"):
        while time.monotonic() < end:
            pass
        if kind == "raise_past":
            raise StressError(record.index)
    return (record.index, kind)


class DeadlineRound(PhasedRound):
    """run(timeout=) tasks that outlive their deadline, on a machine oversubscribed by spinning
    burner threads (so the pool's timer thread often gets no CPU in time): no timed-out task may
    ever return a result (nor its own exception), a task within its deadline keeps its result,
    and stats() counts each timed-out task once."""

    def setup(self) -> None:
        rnd, rng = self.rnd, self.rng
        cores = os.cpu_count() or 1
        self.burners = rng.randint(cores + 1, 2 * cores + 2)
        max_workers = rng.randint(2, 6)
        balancer = rng.choice(["least-busy", "round-robin"])
        count = rng.randint(20, 80)
        weights = [rng.random() + 0.1 for _ in DEADLINE_KINDS]
        self.records: list[DeadlineRecord] = []
        for i in range(count):
            kind = rng.choices(DEADLINE_KINDS, weights)[0]
            if kind == "in_time":
                self.records.append(DeadlineRecord(i, kind, WAIT, 0.0))
            else:
                timeout = rng.choice(DEADLINE_TIMEOUTS)
                self.records.append(DeadlineRecord(i, kind, timeout, timeout * rng.uniform(2, 5)))
        rnd.setup = (f"Pool(max_workers={max_workers}, balancer={balancer!r}), {count} timed "
                     f"tasks, {self.burners} spinning burner threads on {cores} cores")
        self.pool = Pool(max_workers, f"stress-deadline-{rnd.label}", task=deadline_body,
                         balancer=balancer)
        self.stop_burning = threading.Event()
        self.burning: list[threading.Thread] = []

    def burn(self) -> None:
        stop = self.stop_burning
        while not stop.is_set():
            pass

    def drive(self) -> None:
        rnd = self.rnd
        self.burning = [start_thread(self.burn, f"stress-burner-{rnd.label}-{i}")
                        for i in range(self.burners)]
        for record in self.records:
            record.future = self.pool.run(record, timeout=record.timeout)
        rnd.wait_futures([r.future for r in self.records if r.future is not None],
                         "timed pool tasks")

    def finish(self) -> None:
        self.stop_burning.set()
        for thread in self.burning:
            thread.join(WAIT)
        with contextlib.suppress(TimeoutError):
            self.pool.terminate(timeout=WAIT)

    def check(self) -> None:
        rnd = self.rnd
        outcomes: Counter[str] = Counter()
        for record in self.records:
            future = record.future
            assert future is not None
            where = f"task {record.index} ({record.kind}, timeout {record.timeout})"
            if future.cancelled():
                rnd.problem("violations", f"{where}: ended cancelled")
                continue
            exc = future.exception()
            if record.past:
                if exc is None:
                    rnd.problem("violations", f"{where}: a timed-out task returned a result "
                                f"{future.result()!r} after its deadline")
                elif not isinstance(exc, TimeoutError):
                    rnd.problem("violations", f"{where}: ended {exc!r}, not TimeoutError")
                outcomes["exception"] += 1
            elif exc is not None:
                rnd.problem("violations", f"{where}: ended {exc!r} within its deadline")
            else:
                if future.result() != (record.index, record.kind):
                    rnd.problem("violations", f"{where}: wrong result {future.result()!r}")
                outcomes["result"] += 1
        stats = self.pool.stats()
        past = sum(1 for r in self.records if r.past)
        counted = (stats.completed, stats.failed, stats.cancelled, stats.timed_out)
        expected = (len(self.records) - past, past, 0, past)
        if counted != expected:
            rnd.problem("violations", f"stats() (completed, failed, cancelled, timed_out) = "
                        f"{counted}, the futures say {expected}")
        rnd.fault("task past its deadline on an oversubscribed machine", past)
        rnd.tally.tasks += len(self.records)
        rnd.tally.outcomes.update(outcomes)


def _describe_pending(rnd: Round, accepted: list[TaskRecord]) -> None:
    """Where the tasks of futures that never ended are (for the failure message)."""
    for record in accepted:
        future = record.future
        if future is None or future.done():
            continue
        task = getattr(future, "_task", None)
        queue = getattr(task, "queue", None)
        core = getattr(queue, "owner", None)
        where = "no task" if task is None else "no queue" if queue is None else (
            f"queued={task in queue} (queue of {len(queue)})")
        if core is not None:
            where += (f"; core: workers={core._nworkers} {core.balancer.workers} "
                      f"shutdown_started={core.shutdown_started} "
                      f"terminating={core.terminating} broken={core.broken!r}")
        rnd.problems.append(f"pending task {record.index} ({record.kind}, ran "
                            f"{record.runs}): {where}")
        break


def _raise_listener(_worker_id: int) -> None:
    raise StressError("a pool listener raised")


def _raise_callback(_future: cf.Future[Any]) -> None:
    raise StressError("a done-callback raised")


SCENARIOS: dict[str, Scenario] = {
    "pool": (PoolRound,),
    "pool_deadlines": (DeadlineRound,),
}
