"""Bad input to Pool: every constructor argument and method with wrong types and values, calls
after close/terminate/broken, and calls from inside the pool's own tasks, done-callbacks and
listeners. Each gets the documented error with a message that says what to do, and a rejected
call leaves the pool's counters as they were (and the pool working, unless it was closed).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pytest
from messaging_helpers import captured_excepthook

import ftpool
from ftpool import BrokenPool, CancelToken, ClosedError, Pool, QueueFull, UnknownHandlerError
from ftpool._pool.core import PoolClosedError


def counters(pool: Pool) -> tuple[int, ...]:
    """What a rejected call must not change (timings and utilization move by themselves)."""
    s = pool.stats()
    return (s.workers, s.queued, s.running, s.completed, s.failed, s.cancelled, s.timed_out)


CONSTRUCTOR: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"max_workers": 0}, ValueError, "greater than 0"),
    ({"max_workers": -2}, ValueError, "greater than 0"),
    ({"max_workers": 2.0}, TypeError, "max_workers must be an int"),
    ({"max_workers": "4"}, TypeError, "max_workers must be an int"),
    ({"max_workers": True}, TypeError, "max_workers must be an int"),
    ({"min_workers": -1}, ValueError, "min_workers must be >= 0"),
    ({"min_workers": 3, "max_workers": 2}, ValueError, "must not exceed max_workers"),
    ({"min_workers": 1.0}, TypeError, "min_workers must be an int"),
    ({"idle_timeout": -1}, ValueError, r"idle_timeout.*>= 0"),
    ({"idle_timeout": math.nan}, ValueError, r"idle_timeout.*>= 0"),
    ({"idle_timeout": "1"}, TypeError, r"idle_timeout.*must be a number"),
    ({"max_queue": 0}, ValueError, "max_queue must be >= 1"),
    ({"max_queue": "big"}, TypeError, "max_queue must be an int"),
    ({"max_queue": 1.5}, TypeError, "max_queue must be an int"),
    ({"balancer": "fastest"}, ValueError, "'least-busy', 'round-robin'"),
    ({"balancer": None}, ValueError, "'least-busy', 'round-robin'"),
    ({"initializer": 42}, TypeError, "initializer must be a callable"),
    ({"initargs": [1]}, TypeError, "initargs must be a tuple"),
    ({"task": "fn"}, TypeError, "task must be a callable"),
    ({"thread_name_prefix": 5}, TypeError, "thread_name_prefix must be a str"),
    ({"handlers": {"": abs}}, TypeError, "non-empty str"),
    ({"handlers": {1: abs}}, TypeError, "non-empty str"),
    ({"handlers": {"abs": 42}}, TypeError, "must be callable"),
    ({"handlers": [("abs", abs)]}, TypeError, "handlers must be a mapping"),
    ({"handlers": "abs"}, TypeError, "handlers must be a mapping"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), CONSTRUCTOR)
def test_constructor_rejects(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Pool(**kwargs)  # (the per-test leak check sees any worker it started)


CALLS: list[tuple[str, Callable[[Pool], object], type[Exception], str]] = [
    ("submit(42)", lambda p: p.submit(42), TypeError, "needs a callable"),
    ("submit()", lambda p: p.submit(), TypeError, "positional argument"),  # type: ignore[call-arg]
    ("map(42, ...)", lambda p: p.map(42, [1]), TypeError, "needs a callable"),
    ("map(iterable=42)", lambda p: p.map(abs, 42), TypeError, "not iterable"),
    ("map(timeout=-1)", lambda p: p.map(abs, [1], timeout=-1), ValueError, ">= 0"),
    ("map(timeout='1')", lambda p: p.map(abs, [1], timeout="1"), TypeError, "number of seconds"),
    ("map(chunksize=0)", lambda p: p.map(abs, [1], chunksize=0), ValueError, "chunksize must"),
    ("map(chunksize=1.5)", lambda p: p.map(abs, [1], chunksize=1.5), TypeError, "chunksize"),
    ("imap_unordered(42)", lambda p: p.imap_unordered(42, [1]), TypeError, "callable"),
    ("imap_unordered(chunksize=-1)", lambda p: p.imap_unordered(abs, [1], -1), ValueError,
     "chunksize must"),
    ("run(name='nope')", lambda p: p.run(1, name="nope"), UnknownHandlerError, "known: 'double'"),
    ("run(timeout=-1)", lambda p: p.run(1, timeout=-1), ValueError, ">= 0"),
    ("run(timeout=nan)", lambda p: p.run(1, timeout=math.nan), ValueError, ">= 0"),
    ("run(timeout='1')", lambda p: p.run(1, timeout="1"), TypeError, "number of seconds"),
    ("run(cancel=42)", lambda p: p.run(1, cancel=42), TypeError, "CancelToken"),
    ("broadcast(42)", lambda p: p.broadcast(42), TypeError, "needs a callable"),
    ("handler(42)", lambda p: p.handler(42), TypeError, "a name .str. or a function"),
    ("handler('')", lambda p: p.handler("")(abs), TypeError, "non-empty str"),
    ("handler('x')(42)", lambda p: p.handler("x")(42), TypeError, "must be callable"),
    ("on('finish', ...)", lambda p: p.on("finish", print), ValueError,
     "drain, worker_create, worker_exit, error"),
    ("on('drain', 42)", lambda p: p.on("drain", 42), TypeError, "callable"),
    ("off('finish', ...)", lambda p: p.off("finish", print), ValueError, "valid events"),
    ("close(timeout=-1)", lambda p: p.close(timeout=-1), ValueError, ">= 0"),
    ("close(timeout='1')", lambda p: p.close(timeout="1"), TypeError, "number of seconds"),
    ("terminate(timeout=-1)", lambda p: p.terminate(timeout=-1), ValueError, ">= 0"),
]


@pytest.mark.parametrize(("what", "call", "error", "match"), CALLS, ids=[c[0] for c in CALLS])
def test_rejected_calls_leave_the_pool_as_it_was(
    what: str, call: Callable[[Pool], object], error: type[Exception], match: str
) -> None:
    with Pool(task=lambda x: x * 2, handlers={"double": lambda x: x * 2}, max_workers=2) as pool:
        assert pool.submit(abs, -1).result(timeout=5) == 1
        before = counters(pool)
        handlers = pool.handlers
        with pytest.raises(error, match=match):
            call(pool)
        assert counters(pool) == before
        assert pool.handlers == handlers
        assert pool.submit(abs, -2).result(timeout=5) == 2  # still open and working
        assert pool.run(4).result(timeout=5) == 8


@pytest.mark.parametrize("how", ["close", "shutdown", "shutdown_nowait", "terminate", "with"])
def test_every_entry_point_refuses_work_after_close(how: str) -> None:
    pool = Pool(task=lambda x: x, max_workers=1)
    assert pool.submit(abs, -1).result(timeout=5) == 1
    if how == "close":
        pool.close()
    elif how == "shutdown":
        pool.shutdown()
    elif how == "shutdown_nowait":
        pool.shutdown(wait=False)
    elif how == "terminate":
        pool.terminate()
    else:
        with pool:
            pass
    before = counters(pool)
    for call in (lambda: pool.submit(abs, 1), lambda: pool.run(1), lambda: pool.map(abs, [1]),
                 lambda: pool.imap_unordered(abs, [1]), lambda: pool.broadcast(abs, 1)):
        with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
            call()
        with pytest.raises(ClosedError):
            call()
    assert counters(pool)[1:] == before[1:]  # workers may still be leaving
    for close in (pool.close, pool.terminate, pool.shutdown):  # idempotent, never raises
        close()
    assert "shut down" in repr(pool)


def test_queue_full_leaves_the_counters_as_they_were() -> None:
    gate, started = threading.Event(), threading.Event()

    def hold() -> bool:
        started.set()
        return gate.wait(5)

    with Pool(max_workers=1, max_queue=2) as pool:
        running = pool.submit(hold)
        assert started.wait(5)  # the worker runs it: the queue is empty
        queued = [pool.submit(abs, -i) for i in range(2)]
        before = counters(pool)
        for _ in range(3):
            with pytest.raises(QueueFull, match=r"max_queue=2\); retry later"):
                pool.submit(abs, 1)
        assert counters(pool) == before
        gate.set()
        assert running.result(timeout=5) is True
        assert [f.result(timeout=5) for f in queued] == [0, 1]
    stats = pool.stats()
    assert (stats.completed, stats.failed, stats.cancelled) == (3, 0, 0)


def test_run_with_a_rejected_task_leaves_the_token_unlinked() -> None:
    gate, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(5)

    with Pool(task=lambda x: x, max_workers=1, max_queue=1) as pool:
        pool.submit(hold)
        assert started.wait(5)  # the worker runs it: the queue is empty
        pool.run(1)  # fills the queue
        token = CancelToken()
        with pytest.raises(QueueFull):
            pool.run(2, cancel=token)
        assert token._callbacks == []  # the refused task is not left linked to the token
        gate.set()


def test_a_broken_pool_refuses_with_broken_pool(caplog: pytest.LogCaptureFixture) -> None:
    def failing() -> None:
        raise OSError("no database")

    caplog.set_level("CRITICAL", logger="concurrent.futures")
    pool = Pool(max_workers=1, initializer=failing)
    future = pool.submit(abs, 1)
    with pytest.raises(BrokenPool, match="initializer failed") as caught:
        future.result(timeout=5)
    assert isinstance(caught.value.__cause__, OSError)
    before = counters(pool)
    for call in (lambda: pool.submit(abs, 1), lambda: pool.map(abs, [1])):
        with pytest.raises(BrokenPool, match="create a new pool"):
            call()
    assert counters(pool) == before
    assert "broken" in repr(pool)
    pool.close()


# --- calls from inside the pool's own callbacks ------------------------------------------------


def test_pool_calls_from_inside_its_own_tasks() -> None:
    pool = Pool(max_workers=2)
    started = threading.Event()

    def closes_its_own_pool() -> str:
        started.set()
        pool.close()  # from a worker: does not wait for itself (nor deadlock)
        pool.shutdown(wait=True)
        return "closed from inside"

    def submits_more(n: int) -> int:
        return pool.submit(abs, -n).result(timeout=5)  # another worker runs it

    assert pool.submit(submits_more, 3).result(timeout=5) == 3
    closing = pool.submit(closes_its_own_pool)
    assert closing.result(timeout=5) == "closed from inside"
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(abs, 1)
    pool.close(timeout=5)


def test_terminate_from_inside_a_task_cancels_that_task_too() -> None:
    pool = Pool(max_workers=1)

    def terminates() -> str:
        pool.terminate()  # cancels this task's token and returns (it cannot join itself)
        ftpool.check_cancelled()
        return "not cancelled"

    future = pool.submit(terminates)
    with pytest.raises(ftpool.Cancelled, match="terminated"):
        future.result(timeout=5)
    pool.close(timeout=5)


def test_a_task_cancelling_its_own_future() -> None:
    with Pool(max_workers=1) as pool:
        holder: dict[str, Any] = {}
        ready = threading.Event()

        def cancels_itself() -> str:
            assert ready.wait(5)
            holder["cancel returned"] = holder["future"].cancel()  # running: False
            ftpool.check_cancelled()
            return "not cancelled"

        holder["future"] = future = pool.submit(cancels_itself)
        ready.set()
        with pytest.raises(ftpool.Cancelled):
            future.result(timeout=5)
        assert holder["cancel returned"] is False


def test_done_callbacks_and_listeners_calling_back_into_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[object] = []
    callback_done = threading.Event()
    with captured_excepthook(monkeypatch) as reported:
        pool = Pool(max_workers=1)

        def on_done(future: Any) -> None:  # in the worker thread
            events.append(("cancel a done future", future.cancel()))
            events.append(("result", future.result()))
            events.append(("resubmit", pool.submit(abs, -5)))  # no waiting in a callback
            callback_done.set()

        def on_exit(_worker_id: int) -> None:  # the pool is shut down by now
            pool.submit(abs, 1)  # raises: reported, and the pool finishes anyway

        pool.on("worker_exit", on_exit)
        future = pool.submit(abs, -4)
        future.add_done_callback(on_done)
        assert future.result(timeout=5) == 4
        assert callback_done.wait(5)  # it runs in the worker after the future ended
        pool.close(timeout=5)
    assert events[0] == ("cancel a done future", False)
    assert events[1] == ("result", 4)
    resubmitted = events[2][1]  # type: ignore[index]
    assert resubmitted.result(timeout=5) == 5
    assert [type(e) for e in reported] == [PoolClosedError]
    assert "after shutdown" in str(reported[0])


def test_repr_of_a_pool_whose_construction_failed() -> None:
    # debuggers and tracebacks (pytest shows ``self``) call repr() on the half-built object
    half_built = Pool.__new__(Pool)
    assert repr(half_built) == "<ftpool.Pool (not initialized)>"


@pytest.mark.parametrize("method", ["result", "exception"])
def test_future_waits_follow_the_timeout_rules(method: str) -> None:
    # math.inf waits forever (the standard library's Future overflows on it); a negative or NaN
    # timeout is a ValueError and a non-number a TypeError, as for every ftpool timeout, also on
    # a future that is already done; expiry is a TimeoutError that says what to do.
    with Pool(2) as pool:
        gate = threading.Event()
        pending = pool.submit(gate.wait, 5)
        done = pool.submit(abs, -1)
        done.result()
        for future in (pending, done):
            wait = getattr(future, method)
            for bad in (-1, math.nan):
                with pytest.raises(ValueError, match=">= 0"):
                    wait(bad)
            for bad in ("1", True):
                with pytest.raises(TypeError, match="must be a number"):
                    wait(bad)
        with pytest.raises(TimeoutError, match="longer timeout"):
            getattr(pending, method)(0.01)
        threading.Timer(0.05, gate.set).start()
        outcome = getattr(pending, method)(math.inf)
        assert outcome == (True if method == "result" else None)
