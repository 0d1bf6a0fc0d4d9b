"""The stress engine (not a test module): seeds, the rounds loop, tallies, hang and thread-leak
checks, and the session summary. The rounds themselves live in one module per subject:
``pool_rounds.py`` (Pool tasks and enders), ``map_rounds.py`` (Pool.map / imap_unordered),
``channel_rounds.py`` (Channel and select), ``port_rounds.py`` (MessageChannel, Worker echo,
BroadcastChannel) and ``atomics_rounds.py`` (Atomics, AtomicCounter, wait/notify).

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

Adding a round
--------------
1. In the subject's module (or a new ``<subject>_rounds.py``), subclass :class:`PhasedRound` and
   write its phases as methods (see the class for what each one may do):

   * ``setup()``: draw every random choice from ``self.rng`` (here, in the main thread: that keeps
     a seed replayable), build the objects, and describe them in ``self.rnd.setup``;
   * ``drive()``: start the threads (:func:`start_thread`, or ``Worker``), push the work, and wait
     for them with deadlines (``self.rnd.join``, ``wait_event``, ``wait_futures``);
   * ``fault()`` (by convention; the engine does not call it): the fault injected mid-stream (a
     close, terminate or shutdown), run by a thread that ``drive()`` starts;
   * ``finish()``: runs after ``drive()`` even when it raised: close or terminate what is left so
     that no thread leaks;
   * ``check()``: runs only after a ``drive()`` that returned: the invariants (``self.rnd.problem``
     for each broken one, ``self.rnd.check_uniques`` for exactly-once delivery) and the counts
     (``self.rnd.tally``, ``self.rnd.fault``).

2. List the class in that module's ``SCENARIOS``: a new entry ``"name": (MyRound,)`` makes a new
   scenario (a test of its own, ``pytest tests/stress -k name``), or append it to an existing
   scenario's tuple to run it after the others in the same round (it shares their ``Round``:
   seed, tally and excepthook reports). A new module also goes into ``SCENARIOS`` of
   ``test_stress.py``.

Raise :class:`StressError` where a task, listener or callback fails on purpose (reports of it to
``threading.excepthook`` are expected), and call ``self.rnd.hung(what)`` (it returns the exception
to raise) when a deadline passes.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import faulthandler
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
from typing import Any

import ftpool
from ftpool import Terminated

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


class StressError(Exception):
    """What a task, listener or done-callback raises on purpose (its reports are expected)."""


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


class PhasedRound:
    """One part of a round, written in named phases (see "Adding a round" above).

    :meth:`play` runs ``setup()``, then ``drive()``, then ``finish()`` (also when ``drive()``
    raised), then ``check()`` (only when it did not). Each phase keeps what the next one needs
    on ``self``; every default does nothing.
    """

    def __init__(self, rnd: Round) -> None:
        self.rnd = rnd
        self.rng = rnd.rng

    @classmethod
    def play(cls, rnd: Round) -> None:
        phases = cls(rnd)
        phases.setup()
        try:
            phases.drive()
        finally:
            phases.finish()
        phases.check()

    def setup(self) -> None:
        """Draw the random choices, build the objects, describe them in ``rnd.setup``."""

    def drive(self) -> None:
        """Start the threads, push the work (faults land now), wait for everyone."""

    def finish(self) -> None:
        """Close or terminate whatever is left (runs even when ``drive()`` raised)."""

    def check(self) -> None:
        """Check the invariants and count what went through."""


#: A scenario: the parts that each of its rounds plays, in order, on one :class:`Round`.
Scenario = tuple[type[PhasedRound], ...]


def run_rounds(scenario: str, parts: Scenario) -> int:
    """Run rounds of ``parts`` within the budget; raise AssertionError on the first bad round."""
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
            run_one(scenario, parts, seed, number)
            number += 1
    finally:
        with TALLY.lock:
            TALLY.rounds[scenario] += number
            TALLY.seconds[scenario] += time.monotonic() - started
    return number


def run_one(scenario: str, parts: Scenario, seed: int, number: int) -> None:
    rnd = Round(scenario, seed, number)
    before = set(threading.enumerate())
    error: BaseException | None = None
    with capture_reports(rnd):
        try:
            for part in parts:
                part.play(rnd)
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


