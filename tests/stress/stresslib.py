"""The stress engine (not a test module): randomized rounds over Pool, Channel, ports and atomics,
with faults injected mid-stream and the invariants checked after every round.

A *round* builds a random setup from its own seeded ``random.Random``, runs it on many threads,
ends it (a close, terminate or shutdown that may arrive mid-stream), then checks:

* every task ended exactly once: each future is done, its done-callback ran exactly once, its
  outcome (result / exception / cancelled) is one that its kind allows, a task whose ``cancel()``
  returned True never ran, a returned value is the right one, and the pool's ``stats()`` counts
  agree with the outcomes;
* every item or message that was sent (the send returned) was received exactly once, in order per
  sender, and nothing that was not sent was received;
* atomic totals are exact, and ``notify`` woke exactly the waiters that returned ``"ok"``;
* no thread started by the round is still alive after it (each gets a grace period, joined);
* nothing hung: every wait of the harness has a deadline (:data:`WAIT`); when one passes, every
  thread's stack is dumped with ``faulthandler`` and the round fails as hung.

Seeds: the master seed comes from ``FTPOOL_STRESS_SEED`` (printed either way); round ``r`` of
scenario ``s`` draws from ``Random(f"{seed}/{s}/{r}")``, so ``FTPOOL_STRESS_SEED=<seed>
FTPOOL_STRESS_ROUNDS=<r + 1>`` replays the same random choices (thread timing differs, of course).
Budget: ``FTPOOL_STRESS_SECONDS`` per scenario (rounds run until it is spent; at least one), or
``FTPOOL_STRESS_ROUNDS`` rounds exactly.

The totals of a session (:data:`TALLY`) are printed by ``tests/stress/conftest.py``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import faulthandler
import gc
import logging
import os
import random
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from queue import Empty, SimpleQueue
from typing import Any

import ftpool
from ftpool import (
    BroadcastChannel,
    Channel,
    ClosedError,
    EndOfChannel,
    MessageChannel,
    Pool,
    Terminated,
    Worker,
    WouldBlock,
    check_cancelled,
    parent_port,
    select,
)
from ftpool._context import current_state

SEED_ENV = "FTPOOL_STRESS_SEED"
SECONDS_ENV = "FTPOOL_STRESS_SECONDS"
ROUNDS_ENV = "FTPOOL_STRESS_ROUNDS"
DEFAULT_SECONDS = 2.0  # per scenario in the normal test run

#: The longest any single wait of the harness may take before the round counts as hung.
WAIT = 20.0
#: How long threads started by a round get to finish after it before they count as leaked.
LEAK_GRACE = 5.0


def master_seed() -> int:
    value = os.environ.get(SEED_ENV)
    return int(value) if value else random.SystemRandom().randrange(1 << 32)


def budget() -> tuple[float, int | None]:
    """(seconds per scenario, exact rounds or None) from the environment."""
    rounds = os.environ.get(ROUNDS_ENV)
    seconds = float(os.environ.get(SECONDS_ENV) or DEFAULT_SECONDS)
    return seconds, (int(rounds) if rounds else None)


# --------------------------------------------------------------------------------------------
# Totals
# --------------------------------------------------------------------------------------------


@dataclass
class RoundTally:
    """What one round pushed through ftpool and what its checks found."""

    tasks: int = 0  # submitted and accepted by a pool
    rejected: int = 0  # submits refused (closed, broken, queue full): not tasks
    outcomes: Counter[str] = field(default_factory=Counter)  # result/exception/cancelled
    messages: int = 0  # items and messages sent (the send returned)
    received: int = 0
    atomic_ops: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    hung: int = 0
    leaked: int = 0
    violations: int = 0  # other broken invariants (wrong outcome, wrong value, stats, ...)


@dataclass
class Tally(RoundTally):
    """What a session pushed through ftpool and what the checks found (all rounds)."""

    seed: int = 0
    rounds: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, other: RoundTally) -> None:
        with self.lock:
            for item in fields(RoundTally):
                mine, theirs = getattr(self, item.name), getattr(other, item.name)
                if isinstance(mine, Counter):
                    mine.update(theirs)
                else:
                    setattr(self, item.name, mine + theirs)

    def summary(self) -> list[str]:
        info = ftpool.runtime()
        build = "3.13t" if info.free_threaded_build else "3.13"
        gil = "GIL on" if info.gil_enabled else "GIL off"
        rounds = sum(self.rounds.values())
        seconds = sum(self.seconds.values())
        per = ", ".join(f"{name} {n}" for name, n in sorted(self.rounds.items()))
        outcomes = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
        faults = sum(self.faults.values())
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items()))
        return [
            f"ftpool stress: python {info.python_version} ({build}, {gil}), seed {self.seed} "
            f"(replay: {SEED_ENV}={self.seed})",
            f"  rounds: {rounds} in {seconds:.1f} s ({per})",
            f"  tasks pushed: {self.tasks} ({outcomes}); submits refused: {self.rejected}",
            f"  messages pushed: {self.messages}, received: {self.received}; "
            f"atomic ops: {self.atomic_ops}",
            f"  faults injected: {faults} ({kinds})",
            f"  lost {self.lost}, duplicated {self.duplicated}, hung {self.hung}, "
            f"leaked threads {self.leaked}, other violations {self.violations}",
        ]


TALLY = Tally()


class Hung(Exception):
    """A wait of the harness passed :data:`WAIT`: something in ftpool did not wake up."""


class Round:
    """One round: its random source, counters, problems, and helpers to wait with a deadline."""

    def __init__(self, scenario: str, seed: int, number: int) -> None:
        self.scenario = scenario
        self.label = f"{seed}/{scenario}/{number}"
        self.rng = random.Random(self.label)
        self.tally = RoundTally()
        self.problems: list[str] = []
        self.lock = threading.Lock()  # guards tally and problems from the round's threads
        self.reports: list[BaseException] = []  # what ftpool sent to threading.excepthook
        self.setup = ""  # what the round built, for the failure message

    # --- problems ------------------------------------------------------------------------------

    def problem(self, kind: str, message: str, count: int = 1) -> None:
        with self.lock:
            setattr(self.tally, kind, getattr(self.tally, kind) + count)
            self.problems.append(f"[{kind}] {message}")

    def fault(self, kind: str, count: int = 1) -> None:
        with self.lock:
            self.tally.faults[kind] += count

    def hung(self, what: str) -> Hung:
        """Record a hang, dump every thread's stack, and return the exception to raise."""
        self.problem("hung", what)
        sys.stderr.write(f"\n--- ftpool stress round {self.label}: hung: {what}\n")
        dump_stacks()
        return Hung(what)

    # --- waiting with a deadline ---------------------------------------------------------------

    def wait_event(self, event: threading.Event, what: str, timeout: float = WAIT) -> None:
        if not event.wait(timeout):
            raise self.hung(f"{what} (not within {timeout} s)")

    def join(self, threads: list[Any], what: str) -> None:
        deadline = time.monotonic() + WAIT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            raise self.hung(f"{what}: still running after {WAIT} s: {alive}")

    def wait_futures(self, futures: list[cf.Future[Any]], what: str) -> None:
        _, pending = cf.wait(futures, timeout=WAIT)
        if pending:
            raise self.hung(f"{what}: {len(pending)} of {len(futures)} futures not done")

    def check_uniques(self, sent: list[Any], received: list[Any], what: str) -> None:
        """Every sent item received exactly once, nothing else received."""
        sent_set = set(sent)
        counts = Counter(received)
        dups = sum(n - 1 for n in counts.values() if n > 1)
        lost = sent_set - counts.keys()
        ghosts = counts.keys() - sent_set
        if dups:
            self.problem("duplicated", f"{what}: {dups} items received more than once")
        if lost:
            self.problem("lost", f"{what}: {len(lost)} sent items never received, e.g. "
                         f"{sorted(lost)[:5]}", len(lost))
        if ghosts:
            self.problem("duplicated", f"{what}: {len(ghosts)} items received that were never "
                         f"sent (their send failed), e.g. {sorted(ghosts)[:5]}", len(ghosts))


def dump_stacks() -> None:
    """Every thread's stack, with thread names, to stderr (faulthandler's dump of the other
    threads is empty on some free-threaded builds; ``sys._current_frames`` is not)."""
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        sys.stderr.write(f"\nThread {names.get(ident, '?')} ({ident}):\n")
        sys.stderr.write("".join(traceback.format_stack(frame)))
    sys.stderr.flush()
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)


@contextlib.contextmanager
def capture_reports(rnd: Round) -> Iterator[None]:
    """Route ``threading.excepthook`` (where ftpool reports exceptions with no caller) into the
    round, so that expected reports are counted and unexpected ones are problems."""
    original = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        with rnd.lock:
            rnd.reports.append(args.exc_value)  # type: ignore[arg-type]

    def drop_injected(record: logging.LogRecord) -> bool:
        # concurrent.futures logs the done-callbacks that raise; those raise on purpose here
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, StressError)

    logger = logging.getLogger("concurrent.futures")
    threading.excepthook = hook
    logger.addFilter(drop_injected)
    try:
        yield
    finally:
        threading.excepthook = original
        logger.removeFilter(drop_injected)


def run_rounds(scenario: str, body: Callable[[Round], None]) -> int:
    """Run rounds of ``body`` within the budget; raise AssertionError on the first bad round."""
    seconds, rounds = budget()
    seed = TALLY.seed
    started = time.monotonic()
    number = 0
    try:
        while True:
            if rounds is not None:
                if number >= rounds:
                    break
            elif number and time.monotonic() - started >= seconds:
                break
            run_one(scenario, body, seed, number)
            number += 1
    finally:
        with TALLY.lock:
            TALLY.rounds[scenario] += number
            TALLY.seconds[scenario] += time.monotonic() - started
    return number


def run_one(scenario: str, body: Callable[[Round], None], seed: int, number: int) -> None:
    rnd = Round(scenario, seed, number)
    before = set(threading.enumerate())
    error: BaseException | None = None
    with capture_reports(rnd):
        try:
            body(rnd)
        except Hung as exc:
            error = exc
        except AssertionError as exc:
            rnd.problem("violations", str(exc))
            error = exc
    strange = [e for e in rnd.reports if not isinstance(e, StressError | Terminated)]
    if strange:
        rnd.problem("violations", f"exceptions reported to threading.excepthook: {strange!r}")
    leaked = _leaked_threads(before)
    if leaked:
        rnd.problem("leaked", f"threads still alive {LEAK_GRACE} s after the round: {leaked}",
                    len(leaked))
    TALLY.add(rnd.tally)
    if rnd.problems:
        replay = f"{SEED_ENV}={seed} {ROUNDS_ENV}={number + 1} pytest tests/stress -k {scenario}"
        details = "\n  ".join(rnd.problems[:20])
        raise AssertionError(
            f"stress round {rnd.label} broke an invariant (replay the random choices with: "
            f"{replay}):\n  setup: {rnd.setup or '-'}\n  {details}"
        ) from error


def _leaked_threads(before: set[threading.Thread]) -> list[str]:
    deadline = time.monotonic() + LEAK_GRACE
    leaked = []
    for thread in threading.enumerate():
        if thread in before or isinstance(thread, threading.Timer):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            leaked.append(thread.name)
    return sorted(leaked)


def start_thread(fn: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=fn, name=name)
    thread.start()
    return thread


# --------------------------------------------------------------------------------------------
# Pool: tasks that return, raise, time out, get cancelled queued and running; enders mid-stream
# --------------------------------------------------------------------------------------------


class StressError(Exception):
    """The exception that "raise" tasks raise."""


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


class PoolRound:
    """The shared state of one pool round (what the tasks and threads see)."""

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


def pool_round(rnd: Round) -> None:
    rng = rnd.rng
    state = PoolRound(rnd)
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
    init_calls = [0]
    fail_init_at = rng.randint(1, max_workers + 1) if rng.random() < 0.12 else 0
    if fail_init_at:
        rnd.fault("initializer raised")

        def initializer() -> None:
            with rnd.lock:
                init_calls[0] += 1
                call = init_calls[0]
            if call == fail_init_at:
                raise InitError(call)

        config["initializer"] = initializer
    raising_listener = rng.random() < 0.1
    ender = rng.choice(ENDERS)
    if ender != "close_end":
        rnd.fault(f"pool {ender} mid-stream")
    count = rng.randint(20, 300)
    weights = [rng.random() for _ in POOL_KINDS]
    records = [
        TaskRecord(i, rng.choices(POOL_KINDS, weights)[0], rng.randint(-1000, 1000))
        for i in range(count)
    ]
    for record in records:
        if record.kind == "token":
            record.early_token_cancel = rng.random() < 0.5
    raising_callbacks = {i for i in range(count) if rng.random() < 0.05}
    trigger_at = rng.randint(0, count)
    producers = rng.randint(1, 4)

    rnd.setup = (f"Pool({', '.join(f'{k}={v!r}' for k, v in config.items())}), {count} tasks "
                 f"from {producers} producers, ender {ender} after {trigger_at} submits, "
                 f"initializer fails at call {fail_init_at or 'never'}")
    pool = Pool(task=state.body, **config)
    holder: dict[str, Pool] = {"pool": pool}
    del pool
    init_errors: list[BaseException] = []
    holder["pool"].on("error", init_errors.append)
    if raising_listener:
        rnd.fault("pool listener raised")
        holder["pool"].on("worker_create", _raise_listener)
    trigger = threading.Event()
    accepted: list[TaskRecord] = []
    submitted = [0]
    ended = threading.Event()

    called = [0]  # done-callbacks run so far
    all_called = threading.Condition(rnd.lock)  # announces: another done-callback ran

    def record_end(record: TaskRecord) -> Callable[[cf.Future[Any]], None]:
        def callback(_future: cf.Future[Any]) -> None:
            with all_called:
                record.callbacks += 1
                called[0] += 1
                all_called.notify_all()

        return callback

    def submit_one(pool: Pool, record: TaskRecord) -> cf.Future[Any]:
        kind = record.kind
        if kind in ("ok", "raise", "slow", "cancel_queued", "cancel_running"):
            return pool.submit(state.body, record)
        if kind == "run":
            return pool.run(record)
        if kind == "token":
            record.token = ftpool.CancelToken()
            return pool.run(record, cancel=record.token)
        assert kind == "timeout"
        return pool.run(record, timeout=rng_timeouts[record.index % len(rng_timeouts)])

    rng_timeouts = [0.0, 0.0005, 0.002, 0.01]

    def produce(mine: list[TaskRecord]) -> None:
        for record in mine:
            pool = holder.get("pool")
            if pool is None:
                return
            try:
                future = submit_one(pool, record)
            except (RuntimeError, ftpool.QueueFull, ftpool.BrokenPool) as exc:
                with rnd.lock:
                    rnd.tally.rejected += 1
                if isinstance(exc, ftpool.QueueFull):
                    continue
                return  # closed or broken: every later submit fails too
            finally:
                with rnd.lock:
                    submitted[0] += 1
                    if submitted[0] >= trigger_at:
                        trigger.set()
            if record.index in raising_callbacks:
                future.add_done_callback(_raise_callback)
            future.add_done_callback(record_end(record))
            record.future = future
            record.ready.set()
            with rnd.lock:
                accepted.append(record)
            if record.kind == "cancel_queued":
                record.cancel_returned = future.cancel()
            elif record.kind == "token" and record.early_token_cancel:
                assert record.token is not None
                record.token.cancel("early")

    def cancel_started() -> None:
        """Cancel each cooperative task once it runs (in whatever order they start)."""
        while True:
            try:
                record = state.started.get(timeout=WAIT)
            except Empty:
                if ended.is_set():
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
                if returned and ender != "terminate":
                    rnd.problem("violations", f"cancel() of running task {record.index} "
                                "returned True")

    def end_pool() -> None:
        trigger.wait(WAIT)
        pool = holder.get("pool")
        if pool is None:
            return
        try:
            if ender == "close":
                pool.close(timeout=WAIT)
            elif ender == "terminate":
                pool.terminate(timeout=WAIT)
            elif ender == "shutdown_cancel":
                if rng_ender_wait:
                    pool.shutdown(wait=True, cancel_futures=True)
                else:
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool.close(timeout=WAIT)
            elif ender == "shutdown_nowait":
                pool.shutdown(wait=False)
        except TimeoutError:
            rnd.problem("hung", f"pool {ender} did not finish within {WAIT} s")

    rng_ender_wait = rng.random() < 0.5
    shares = [records[i::producers] for i in range(producers)]
    canceller = start_thread(cancel_started, f"stress-canceller-{rnd.label}")
    threads = [start_thread(lambda m=m: produce(m), f"stress-producer-{rnd.label}-{i}")
               for i, m in enumerate(shares)]
    enders = []
    if ender not in ("close_end", "drop"):
        enders.append(start_thread(end_pool, f"stress-ender-{rnd.label}"))
    try:
        rnd.join(threads, "pool producers")
        trigger.set()
        rnd.join(enders, "pool ender")
        if ender == "drop":
            holder.clear()  # the last reference: the pool shuts down by itself, finishing work
            gc.collect()
        else:
            try:
                holder["pool"].close(timeout=WAIT)
            except TimeoutError:
                raise rnd.hung(f"close() after {ender} did not finish within {WAIT} s") from None
        try:
            rnd.wait_futures([r.future for r in accepted if r.future is not None], "pool tasks")
        except Hung:
            _describe_pending(rnd, accepted)
            if init_errors:
                rnd.problems.append(f"pool 'error' events: {init_errors!r}")
                for exc in init_errors:
                    rnd.problems.append("".join(traceback.format_exception(exc)))
            raise
        # a future is done (and wait() returns) before its done-callbacks run: wait for them
        with all_called:
            if not all_called.wait_for(lambda: called[0] >= len(accepted), WAIT):
                raise rnd.hung(f"{len(accepted) - called[0]} done-callbacks never ran")
    finally:
        ended.set()
        state.started.put(None)
        canceller.join(WAIT)
        if "pool" in holder:
            with contextlib.suppress(TimeoutError):
                holder["pool"].terminate(timeout=WAIT)
    check_pool_round(rnd, records, accepted, holder.get("pool"), bool(fail_init_at), ender,
                     init_errors, raising_listener, raising_callbacks)


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


def check_pool_round(  # noqa: PLR0917 (one call site; the round's facts, by position)
    rnd: Round,
    records: list[TaskRecord],
    accepted: list[TaskRecord],
    pool: Pool | None,
    init_may_fail: bool,
    ender: str,
    init_errors: list[BaseException],
    raising_listener: bool,
    raising_callbacks: set[int],
) -> None:
    outcomes: Counter[str] = Counter()
    timed_out = 0
    cancel_everything = ender in ("terminate", "shutdown_cancel")
    for record in accepted:
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
            allowed = cancel_everything or record.kind in ("cancel_queued", "cancel_running",
                                                           "token")
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
                    allowed = init_may_fail and record.runs == 0
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
            rnd.problem("violations", f"{where}: cancel() returned True but it ended {outcome}")
        if record.cancel_returned and record.runs:
            rnd.problem("violations", f"{where}: cancel() returned True but the task ran")
        if not allowed:
            rnd.problem("violations", f"{where}: ended {outcome} (ran {record.runs} times)")
        outcomes[outcome] += 1
    never_accepted = [r for r in records if r.future is None and r.runs]
    if never_accepted:
        rnd.problem("violations", f"{len(never_accepted)} tasks ran although their submit "
                    f"raised, e.g. {never_accepted[0].index}")
    if pool is not None:
        stats = pool.stats()
        counted = (stats.completed, stats.failed, stats.cancelled, stats.timed_out)
        expected = (outcomes["result"], outcomes["exception"], outcomes["cancelled"], timed_out)
        if counted != expected:
            rnd.problem("violations", f"stats() (completed, failed, cancelled, timed_out) = "
                        f"{counted}, the futures say {expected}")
        if (stats.queued, stats.running, stats.workers) != (0, 0, 0):
            rnd.problem("violations", f"after close: queued={stats.queued} "
                        f"running={stats.running} workers={stats.workers}")
    expected_reports = 0
    if raising_listener:
        expected_reports = sum(1 for e in rnd.reports if isinstance(e, StressError))
    unexpected = [e for e in rnd.reports if not isinstance(e, StressError)]
    if unexpected or len(rnd.reports) != expected_reports:
        rnd.problem("violations", f"unexpected reports to threading.excepthook: {unexpected!r}")
    if init_errors and not all(isinstance(e, InitError) for e in init_errors):
        rnd.problem("violations", f"pool 'error' events that are not the initializer's: "
                    f"{init_errors!r}")
    kinds = Counter(r.kind for r in accepted)
    for kind in ("raise", "cancel_queued", "cancel_running", "token", "timeout"):
        if kinds[kind]:
            rnd.fault(f"task {kind}", kinds[kind])
    if raising_callbacks:
        rnd.fault("done-callback raised", len([r for r in accepted
                                               if r.index in raising_callbacks]))
    rnd.tally.tasks += len(accepted)
    rnd.tally.outcomes.update(outcomes)


# --------------------------------------------------------------------------------------------
# Pool.map / imap_unordered
# --------------------------------------------------------------------------------------------


def _square(x: int) -> int:
    if x % 1009 == 13:
        raise StressError(x)
    return x * x


def map_round(rnd: Round) -> None:
    rng = rnd.rng
    n = rng.randint(0, 3000)
    start = rng.randint(0, 2000)
    items = list(range(start, start + n))
    chunksize = rng.choice([None, None, 1, 3, 64])
    max_queue = rng.choice([None, None, 2, 16])
    unordered = rng.random() < 0.4
    close_early = rng.random() < 0.25
    expected = [_square(x) if x % 1009 != 13 else None for x in items]
    fail_at = next((i for i, x in enumerate(items) if x % 1009 == 13), None)
    with Pool(max_workers=rng.randint(1, 4), max_queue=max_queue,
              thread_name_prefix=f"stress-map-{rnd.label}") as pool:
        if unordered:
            iterator = pool.imap_unordered(_square, items, chunksize, timeout=WAIT)
        else:
            iterator = pool.map(_square, items, timeout=WAIT, chunksize=chunksize)
        got: list[int] = []
        error: BaseException | None = None
        try:
            for value in iterator:
                got.append(value)
                if close_early and len(got) >= n // 3:
                    rnd.fault("map iterator closed early")
                    break
        except StressError as exc:
            error = exc
            rnd.fault("map item raised")
        except TimeoutError:
            raise rnd.hung(f"map() gave no result within {WAIT} s") from None
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
    where = f"{'imap_unordered' if unordered else 'map'} of {n} items chunksize={chunksize} " \
            f"max_queue={max_queue}"
    if close_early and error is None and len(got) >= n // 3 and n:
        pass  # stopped early on purpose: only what was consumed is checked below
    elif fail_at is None:
        if error is not None:
            rnd.problem("violations", f"{where}: unexpected {error!r}")
        want = [v for v in expected if v is not None]
        if (sorted(got) if unordered else got) != (sorted(want) if unordered else want):
            rnd.problem("lost", f"{where}: {len(got)} results, expected {len(want)}")
    elif error is None:
        rnd.problem("violations", f"{where}: item {items[fail_at]} should have raised")
    elif not unordered and got != expected[:fail_at]:
        rnd.problem("lost", f"{where}: results before the failing item differ")
    if not unordered:
        prefix = expected[: len(got)]
        if got != prefix:
            rnd.problem("violations", f"{where}: results out of order or wrong")
    else:
        valid = Counter(v for v in expected if v is not None)
        extra = Counter(got) - valid
        if extra:
            rnd.problem("duplicated", f"{where}: results that no item gives: {list(extra)[:5]}")
    stats = pool.stats()
    if stats.queued or stats.running:
        rnd.problem("violations", f"{where}: after close queued={stats.queued} "
                    f"running={stats.running}")
    if max_queue is None and stats.completed + stats.failed + stats.cancelled != n:
        rnd.problem("violations", f"{where}: stats count {stats.completed} completed + "
                    f"{stats.failed} failed + {stats.cancelled} cancelled, for {n} items")
    rnd.tally.tasks += stats.completed + stats.failed + stats.cancelled
    rnd.tally.outcomes.update(result=stats.completed, exception=stats.failed,
                              cancelled=stats.cancelled)


# --------------------------------------------------------------------------------------------
# Channel: many producers and consumers, bounded and unbounded, close and terminate mid-stream
# --------------------------------------------------------------------------------------------


def channel_round(rnd: Round) -> None:
    rng = rnd.rng
    capacity = rng.choice([0, 0, 1, 2, 3, 8, 64])
    channel: Channel[tuple[int, int]] = Channel(capacity)
    n_producers = rng.randint(1, 4)
    n_consumers = rng.randint(1, 4)
    per_producer = rng.randint(10, 400)
    close_mid = rng.random() < 0.3
    trigger_at = rng.randint(0, per_producer)
    terminate_some = rng.random() < 0.4
    sent: list[list[tuple[int, int]]] = [[] for _ in range(n_producers)]
    received: list[list[tuple[int, int]]] = [[] for _ in range(n_consumers)]
    timeouts = [0]
    trigger = threading.Event()

    def produce(p: int, seed: int) -> None:
        r = random.Random(seed)
        out = sent[p]
        for s in range(per_producer):
            item = (p, s)
            how = r.random()
            try:
                if how < 0.4:
                    channel.send(item)
                elif how < 0.7:
                    try:
                        channel.send_nowait(item)
                    except WouldBlock:
                        channel.send(item)
                else:
                    while True:
                        try:
                            channel.send(item, timeout=r.choice([0, 0.0002, 0.002]))
                            break
                        except TimeoutError:
                            timeouts[0] += 1  # (a racy count: only for the summary)
            except (ClosedError, Terminated):
                return
            finally:
                if s >= trigger_at:
                    trigger.set()
            out.append(item)  # only once send returned: no ftpool call in between

    def consume(c: int, mode: str) -> None:
        got = received[c]
        try:
            if mode == "iter":
                for item in channel:
                    got.append(item)
            elif mode == "receive":
                while True:
                    got.append(channel.receive())
            elif mode == "timeout":
                while True:
                    try:
                        got.append(channel.receive(timeout=0.002))
                    except TimeoutError:
                        timeouts[0] += 1
            else:
                while True:
                    try:
                        got.append(channel.receive_nowait())
                    except WouldBlock:
                        got.append(channel.receive())
        except (EndOfChannel, Terminated):
            return

    modes = ["iter", "receive", "timeout", "nowait"]
    producers: list[Any] = []
    consumers: list[Any] = []
    terminable: list[Worker] = []
    for c in range(n_consumers):
        mode = rng.choice(modes)
        # consumer 0 is a plain thread that nobody terminates, so producers never block forever
        if c and terminate_some and rng.random() < 0.6:
            worker = Worker(consume, c, mode, name=f"stress-ch-consumer-{rnd.label}-{c}")
            consumers.append(worker)
            terminable.append(worker)
        else:
            consumers.append(start_thread(lambda c=c, mode=mode: consume(c, mode),
                                          f"stress-ch-consumer-{rnd.label}-{c}"))
    for p in range(n_producers):
        seed = rng.randrange(1 << 30)
        if terminate_some and rng.random() < 0.3:
            worker = Worker(produce, p, seed, name=f"stress-ch-producer-{rnd.label}-{p}")
            producers.append(worker)
            terminable.append(worker)
        else:
            producers.append(start_thread(lambda p=p, seed=seed: produce(p, seed),
                                          f"stress-ch-producer-{rnd.label}-{p}"))
    victims = [w for w in terminable if rng.random() < 0.7]
    rnd.setup = (f"Channel({capacity}), {n_producers} producers x {per_producer} items, "
                 f"{n_consumers} consumers, close mid-stream {close_mid} after item "
                 f"{trigger_at}, {len(victims)} of {len(terminable)} Workers terminated")

    def disrupt() -> None:
        trigger.wait(WAIT)
        if close_mid:
            channel.close()
        for worker in victims:
            try:
                worker.terminate(timeout=WAIT)
            except TimeoutError:
                rnd.problem("hung", f"{worker.name} did not end within {WAIT} s of terminate()")

    disruptor = start_thread(disrupt, f"stress-ch-disrupt-{rnd.label}")
    try:
        rnd.join(producers, "channel producers")
        trigger.set()
        channel.close()
        rnd.join([disruptor, *consumers], "channel consumers")
    finally:
        channel.close()
        trigger.set()
    leftover: list[tuple[int, int]] = []
    with contextlib.suppress(EndOfChannel):
        while True:
            leftover.append(channel.receive_nowait())
    if close_mid:
        rnd.fault("channel closed mid-stream")
    rnd.fault("worker terminated", len(victims))
    rnd.fault("send/receive timed out", timeouts[0])
    all_sent = [item for out in sent for item in out]
    all_received = [item for got in received for item in got] + leftover
    what = f"Channel({capacity}) {n_producers}->{n_consumers}"
    rnd.check_uniques(all_sent, all_received, what)
    for c, got in enumerate(received):
        last: dict[int, int] = {}
        for p, s in got:
            if s <= last.get(p, -1):
                rnd.problem("violations", f"{what}: consumer {c} got ({p}, {s}) after "
                            f"({p}, {last[p]}): not FIFO")
                break
            last[p] = s
    stats = channel.stats()
    if (stats.sent, stats.received, stats.queued) != (len(all_sent), len(all_sent), 0):
        rnd.problem("violations", f"{what}: stats() {stats} after {len(all_sent)} sent")
    if stats.waiting_senders or stats.waiting_receivers or not stats.closed:
        rnd.problem("violations", f"{what}: stats() {stats} after everyone left")
    rnd.tally.messages += len(all_sent)
    rnd.tally.received += len(all_received)
    unexpected = [e for e in rnd.reports if not isinstance(e, Terminated)]
    if unexpected:
        rnd.problem("violations", f"{what}: reported {unexpected!r}")


def select_round(rnd: Round) -> None:
    """Several channels, one producer each, consumers in select() until all are drained."""
    rng = rnd.rng
    channels: list[Channel[tuple[int, int]]] = [
        Channel(rng.choice([0, 1, 4])) for _ in range(rng.randint(1, 4))
    ]
    per = rng.randint(10, 300)
    n_consumers = rng.randint(1, 3)
    received: list[list[tuple[int, int]]] = [[] for _ in range(n_consumers)]
    sent: list[list[tuple[int, int]]] = [[] for _ in channels]

    def produce(p: int) -> None:
        for s in range(per):
            try:
                channels[p].send((p, s))
            except ClosedError:
                return
            sent[p].append((p, s))
        channels[p].close()

    def consume(c: int) -> None:
        timed_out = 0
        while True:
            try:
                _, item = select(*channels, timeout=0.01 if c == 0 else None)
            except EndOfChannel:
                break
            except TimeoutError:
                timed_out += 1
                continue
            received[c].append(item)
        rnd.fault("select timed out", timed_out)

    consumers = [start_thread(lambda c=c: consume(c), f"stress-select-{rnd.label}-{c}")
                 for c in range(n_consumers)]
    producers = [start_thread(lambda p=p: produce(p), f"stress-select-prod-{rnd.label}-{p}")
                 for p in range(len(channels))]
    try:
        rnd.join(producers, "select producers")
        rnd.join(consumers, "select consumers")
    finally:
        for channel in channels:
            channel.close()
    all_sent = [i for s in sent for i in s]
    all_received = [i for r in received for i in r]
    rnd.check_uniques(all_sent, all_received, f"select over {len(channels)} channels")
    rnd.tally.messages += len(all_sent)
    rnd.tally.received += len(all_received)


# --------------------------------------------------------------------------------------------
# Ports: MessageChannel with listeners and receivers, Worker echo with terminate, broadcast
# --------------------------------------------------------------------------------------------


def ports_round(rnd: Round) -> None:
    rng = rnd.rng
    a, b = MessageChannel(name=f"stress-{rnd.label}")
    n_posters = rng.randint(1, 3)
    per = rng.randint(10, 400)
    use_listener = rng.random() < 0.7
    n_receivers = rng.randint(0 if use_listener else 1, 2)
    raise_every = rng.choice([0, 0, 7, 50])
    close_mid = rng.random() < 0.3
    close_side = rng.choice([a, b])
    trigger_at = rng.randint(0, per)
    trigger = threading.Event()
    posted: list[list[tuple[int, int]]] = [[] for _ in range(n_posters)]
    heard: list[tuple[int, int]] = []
    raised = [0]
    got: list[list[tuple[int, int]]] = [[] for _ in range(n_receivers)]
    closes: list[str] = []

    def listener(message: tuple[int, int]) -> None:
        heard.append(message)  # the listener thread is the only writer
        if raise_every and message[1] % raise_every == 0:
            raised[0] += 1
            raise StressError(f"listener raised on {message}")

    if use_listener:
        b.on("message", listener)
    b.on("close", lambda: closes.append("b"))
    a.on("close", lambda: closes.append("a"))

    def post(p: int) -> None:
        for s in range(per):
            try:
                a.post_message((p, s))
            except ClosedError:
                return
            finally:
                if s >= trigger_at:
                    trigger.set()
            posted[p].append((p, s))

    def receive(r: int) -> None:
        mine = got[r]
        with contextlib.suppress(EndOfChannel):
            if r % 2:
                for message in b:
                    mine.append(message)
            else:
                while True:
                    mine.append(b.receive())

    def closer() -> None:
        trigger.wait(WAIT)
        close_side.close()

    rnd.setup = (f"MessageChannel, {n_posters} posters x {per}, listener {use_listener}, "
                 f"{n_receivers} receivers, raise every {raise_every}, close mid-stream "
                 f"{close_mid}")
    receivers = [start_thread(lambda r=r: receive(r), f"stress-port-recv-{rnd.label}-{r}")
                 for r in range(n_receivers)]
    posters = [start_thread(lambda p=p: post(p), f"stress-port-post-{rnd.label}-{p}")
               for p in range(n_posters)]
    closers = [start_thread(closer, f"stress-port-close-{rnd.label}")] if close_mid else []
    try:
        rnd.join(posters, "port posters")
        trigger.set()
        rnd.join(closers, "port closer")
        a.close()
        if not b.wait_closed(timeout=WAIT) or not a.wait_closed(timeout=WAIT):
            raise rnd.hung(f"port listener thread did not end within {WAIT} s")
        rnd.join(receivers, "port receivers")
    finally:
        a.close()
    if close_mid:
        rnd.fault("port closed mid-stream")
    rnd.fault("listener raised", raised[0])
    all_posted = [m for p in posted for m in p]
    all_got = heard + [m for r in got for m in r]
    what = f"MessageChannel {n_posters} posters -> listener={use_listener} + {n_receivers} " \
           f"receivers"
    rnd.check_uniques(all_posted, all_got, what)
    if use_listener:
        last: dict[int, int] = {}
        for p, s in heard:
            if s <= last.get(p, -1):
                rnd.problem("violations", f"{what}: listener heard ({p}, {s}) out of order")
                break
            last[p] = s
    if sorted(closes) != ["a", "b"]:
        rnd.problem("violations", f"{what}: 'close' listeners fired {closes}, want each once")
    reports = [e for e in rnd.reports if isinstance(e, StressError)]
    if len(reports) != raised[0] or len(rnd.reports) != len(reports):
        rnd.problem("violations", f"{what}: {raised[0]} listener errors, reported "
                    f"{rnd.reports!r}")
    rnd.tally.messages += len(all_posted)
    rnd.tally.received += len(all_got)
    worker_echo_round(rnd)
    broadcast_round(rnd)


def _echo() -> None:
    port = parent_port()
    assert port is not None
    for message in port:
        if message is None:
            return
        port.post_message(message)


def worker_echo_round(rnd: Round) -> None:
    """A Worker echoes what it gets; the creator terminates it at a random point or ends it."""
    rng = rnd.rng
    n = rng.randint(1, 300)
    terminate_at = rng.randint(0, n) if rng.random() < 0.5 else None
    echoes: list[int] = []
    use_listener = rng.random() < 0.5
    exits: list[int] = []
    worker = Worker(_echo, name=f"stress-echo-{rnd.label}")
    if use_listener:
        worker.on("message", echoes.append)
    worker.on("exit", exits.append)
    posted = 0
    try:
        for i in range(n):
            if i == terminate_at:
                rnd.fault("worker terminated")
                code = worker.terminate(timeout=WAIT)
                if code not in (0, 1):
                    rnd.problem("violations", f"terminated echo worker exit code {code}")
            try:
                worker.post_message(i)
            except ClosedError:
                break
            posted += 1
        if terminate_at is None:
            worker.post_message(None)
        elif terminate_at >= n:  # the loop never reached it
            rnd.fault("worker terminated")
            worker.terminate(timeout=WAIT)
        if not use_listener:
            with contextlib.suppress(EndOfChannel):
                while True:
                    echoes.append(worker.receive(timeout=WAIT))
        code = worker.join(WAIT)
        if code is None:
            raise rnd.hung(f"echo worker did not exit within {WAIT} s (n={n}, terminate_at="
                           f"{terminate_at}, listener={use_listener}, posted={posted}, "
                           f"echoes={len(echoes)})")
    except TimeoutError:
        raise rnd.hung(f"echo worker did not answer within {WAIT} s") from None
    finally:
        with contextlib.suppress(TimeoutError):
            worker.terminate(timeout=WAIT)
    if echoes != list(range(len(echoes))):
        rnd.problem("violations", f"echo worker: echoes are not the posted prefix: "
                    f"{echoes[:10]}...")
    if terminate_at is None and len(echoes) != posted:
        rnd.problem("lost", f"echo worker: {posted} posted, {len(echoes)} echoed",
                    posted - len(echoes))
    if exits != [code]:
        rnd.problem("violations", f"echo worker: 'exit' fired {exits}, exit code {code}")
    rnd.tally.messages += posted + len(echoes)
    rnd.tally.received += posted + len(echoes) if terminate_at is None else len(echoes) * 2


def broadcast_round(rnd: Round) -> None:
    rng = rnd.rng
    name = f"stress-broadcast-{rnd.label}"
    k = rng.randint(2, 4)
    per = rng.randint(1, 100)
    members = [BroadcastChannel(name) for _ in range(k)]
    inbox: list[list[tuple[int, int]]] = [[] for _ in range(k)]
    listening = [i for i in range(k) if rng.random() < 0.4]
    for i in listening:
        members[i].on("message", inbox[i].append)
    posted = threading.Barrier(k)

    def member(i: int) -> None:
        for s in range(per):
            members[i].post_message((i, s))
        posted.wait(WAIT)
        if i not in listening:
            for _ in range((k - 1) * per):
                inbox[i].append(members[i].receive(timeout=WAIT))

    threads = [start_thread(lambda i=i: member(i), f"stress-bc-{rnd.label}-{i}")
               for i in range(k)]
    try:
        rnd.join(threads, "broadcast members")
    finally:
        for m in members:
            m.close()
    for m in members:
        if not m.wait_closed(timeout=WAIT):
            raise rnd.hung("broadcast listener thread did not end")
    for i in range(k):
        want = [(j, s) for j in range(k) if j != i for s in range(per)]
        rnd.check_uniques(want, inbox[i], f"BroadcastChannel member {i} of {k}")
    rnd.tally.messages += k * (k - 1) * per  # each post is a message to every other member
    rnd.tally.received += sum(map(len, inbox))


# --------------------------------------------------------------------------------------------
# Atomics: exact totals under contention, wait/notify accounting, terminate while waiting
# --------------------------------------------------------------------------------------------


def atomics_round(rnd: Round) -> None:
    rng = rnd.rng
    typecode = rng.choice("bBhHiIqQ")
    length = rng.randint(1, 8)
    array = ftpool.SharedArray(typecode, length)
    counter = ftpool.AtomicCounter(rng.randint(-100, 100))
    counter_start = counter.load()
    n_threads = rng.randint(2, 4)
    ops = rng.randint(100, 2000)
    deltas = [[0] * length for _ in range(n_threads)]
    counter_deltas = [0] * n_threads
    Atomics = ftpool.Atomics

    def hammer(t: int, seed: int) -> None:
        r = random.Random(seed)
        mine = deltas[t]
        for _ in range(ops):
            i = r.randrange(length)
            op = r.random()
            if op < 0.35:
                Atomics.add(array, i, 1)
                mine[i] += 1
            elif op < 0.6:
                Atomics.sub(array, i, 1)
                mine[i] -= 1
            elif op < 0.8:
                while True:  # a CAS increment loop
                    old = Atomics.load(array, i)
                    new = _wrap(old + 3, array)
                    if Atomics.compare_exchange(array, i, old, new) == old:
                        break
                mine[i] += 3
            else:
                n = r.randint(1, 5)
                if op < 0.9:
                    counter.add(n)
                    counter_deltas[t] += n
                else:
                    counter.sub(n)
                    counter_deltas[t] -= n

    seeds = [rng.randrange(1 << 30) for _ in range(n_threads)]
    threads = [start_thread(lambda t=t: hammer(t, seeds[t]), f"stress-atomics-{rnd.label}-{t}")
               for t in range(n_threads)]
    rnd.join(threads, "atomics threads")
    for i in range(length):
        want = _wrap(sum(d[i] for d in deltas), array)
        if array[i] != want:
            rnd.problem("lost", f"SharedArray({typecode!r})[{i}] = {array[i]}, want {want} "
                        f"(atomic updates lost)")
    if counter.load() != counter_start + sum(counter_deltas):
        rnd.problem("lost", f"AtomicCounter = {counter.load()}, want "
                    f"{counter_start + sum(counter_deltas)}")
    rnd.tally.atomic_ops += n_threads * ops
    wait_notify_round(rnd)
    pool_atomics_round(rnd)


def _wrap(value: int, array: ftpool.SharedArray) -> int:
    span = array.max - array.min + 1
    return (value - array.min) % span + array.min


def wait_notify_round(rnd: Round) -> None:
    """Waiters (threads and Workers) in Atomics.wait; a notifier wakes some at a time; some
    Workers are terminated while they wait. notify's counts must equal the "ok" returns."""
    rng = rnd.rng
    Atomics = ftpool.Atomics
    flag = ftpool.SharedArray(rng.choice("iq"), 2)
    n_waiters = rng.randint(1, 5)
    results: list[Counter[str]] = [Counter() for _ in range(n_waiters)]
    started = threading.Barrier(n_waiters + 1)

    def wait_loop(w: int, seed: int) -> None:
        r = random.Random(seed)
        mine = results[w]
        try:
            started.wait(WAIT)
            while True:
                outcome = Atomics.wait(flag, 0, 0, timeout=r.choice([None, 0.001, 0.01, 0.05]))
                mine[outcome] += 1
                Atomics.add(flag, 1, 1)
                if outcome == "not-equal":
                    return
        except Terminated:
            mine["terminated"] += 1

    waiters: list[Any] = []
    workers: list[Worker] = []
    for w in range(n_waiters):
        seed = rng.randrange(1 << 30)
        if rng.random() < 0.4:
            worker = Worker(wait_loop, w, seed, name=f"stress-waiter-{rnd.label}-{w}")
            waiters.append(worker)
            workers.append(worker)
        else:
            waiters.append(start_thread(lambda w=w, s=seed: wait_loop(w, s),
                                        f"stress-waiter-{rnd.label}-{w}"))
    victims = [w for w in workers if rng.random() < 0.5]
    woken = 0
    try:
        started.wait(WAIT)
        for _ in range(rng.randint(1, 50)):
            woken += Atomics.notify(flag, 0, rng.choice([None, 1, 2]))
            if victims and rng.random() < 0.1:
                victim = victims.pop()
                victim.terminate(timeout=WAIT)
                rnd.fault("worker terminated in Atomics.wait")
            time.sleep(rng.choice([0, 0, 0.0005]))
        for victim in victims:
            victim.terminate(timeout=WAIT)
            rnd.fault("worker terminated in Atomics.wait")
        Atomics.store(flag, 0, 1)
        woken += Atomics.notify(flag, 0)
        rnd.join(waiters, "Atomics.wait waiters")
    except (TimeoutError, threading.BrokenBarrierError):
        raise rnd.hung("Atomics.wait waiters did not wake up") from None
    finally:
        Atomics.store(flag, 0, 1)
        Atomics.notify(flag, 0)
    oks = sum(r["ok"] for r in results)
    if woken != oks:
        rnd.problem("lost" if woken > oks else "duplicated",
                    f"Atomics.notify reported {woken} woken, waiters returned 'ok' {oks} times")
    total = sum(sum(r[k] for k in ("ok", "timed-out", "not-equal")) for r in results)
    if Atomics.load(flag, 1) != total:
        rnd.problem("violations", f"waits counted {Atomics.load(flag, 1)}, returned {total}")
    rnd.tally.atomic_ops += total + woken


def pool_atomics_round(rnd: Round) -> None:
    """Pool tasks increment one AtomicCounter: the total is exact."""
    rng = rnd.rng
    counter = ftpool.AtomicCounter()
    n = rng.randint(10, 2000)
    with Pool(max_workers=rng.randint(1, 4), thread_name_prefix=f"stress-pa-{rnd.label}") as pool:
        for _ in pool.map(counter.add, [1] * n, chunksize=rng.choice([None, 1, 7])):
            pass
    if counter.load() != n:
        rnd.problem("lost", f"{n} pool tasks added 1 each, the counter says {counter.load()}")
    rnd.tally.tasks += n
    rnd.tally.outcomes["result"] += n
    rnd.tally.atomic_ops += n


SCENARIOS: dict[str, Callable[[Round], None]] = {
    "pool": pool_round,
    "map": map_round,
    "channel": channel_round,
    "select": select_round,
    "ports": ports_round,
    "atomics": atomics_round,
}
