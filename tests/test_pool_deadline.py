"""run(timeout=) deadlines hold however late the timer thread runs: check_cancelled() compares the
clock with the task's deadline itself, and a task that ends after its deadline ends with
TimeoutError, its result discarded and counted as timed out. Checked with the timer switched off
and on a machine oversubscribed by another pool's spinning workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

import ftpool
from ftpool import Cancelled, Pool
from ftpool._context import current_state


def cooperative_work(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ftpool.check_cancelled()
    return "finished"


@pytest.fixture
def timerless_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pool]:
    """A pool whose timer thread never fires: what a starved timer looks like."""
    with Pool(1, task=cooperative_work) as pool:
        monkeypatch.setattr(pool._core.timer, "arm", lambda *args: None)
        yield pool


def test_check_cancelled_holds_the_deadline_without_the_timer(timerless_pool: Pool) -> None:
    started = time.monotonic()
    future = timerless_pool.run(5.0, timeout=0.02)
    with pytest.raises(TimeoutError):
        future.result(timeout=10)
    assert time.monotonic() - started < 4  # stopped at its check, not after 5 s
    stats = timerless_pool.stats()
    assert (stats.timed_out, stats.failed, stats.completed, stats.cancelled) == (1, 1, 0, 0)


def test_check_cancelled_reason_is_the_timeout_error(timerless_pool: Pool) -> None:
    reasons: list[object] = []

    def catch(_: object) -> str:
        try:
            cooperative_work(5.0)
        except Cancelled as exc:  # the documented exception; its reason is the TimeoutError
            reasons.append(exc.reason)
        return "swallowed"

    timerless_pool.handler("catch")(catch)
    future = timerless_pool.run(None, name="catch", timeout=0.02)
    with pytest.raises(TimeoutError):  # it returned, but after its deadline
        future.result(timeout=10)
    assert len(reasons) == 1
    assert isinstance(reasons[0], TimeoutError)


def test_a_result_returned_after_the_deadline_is_discarded(timerless_pool: Pool) -> None:
    returned: list[object] = []

    def late(_: object) -> list[object]:
        time.sleep(0.05)  # never checks
        returned.append(True)
        return returned

    timerless_pool.handler("late")(late)
    future = timerless_pool.run(None, name="late", timeout=0.01)
    with pytest.raises(TimeoutError, match=r"timeout of 0\.01 s"):
        future.result(timeout=10)
    assert returned == [True]  # it ran to its end; its result went nowhere
    stats = timerless_pool.stats()
    assert (stats.timed_out, stats.failed, stats.completed) == (1, 1, 0)


def test_an_exception_raised_after_the_deadline_becomes_timeout_error(
    timerless_pool: Pool,
) -> None:
    def fails_late(_: object) -> None:
        time.sleep(0.05)
        raise LookupError("too late to matter")

    timerless_pool.handler("fails_late")(fails_late)
    future = timerless_pool.run(None, name="fails_late", timeout=0.01)
    assert isinstance(future.exception(timeout=10), TimeoutError)
    assert timerless_pool.stats().timed_out == 1


def test_a_task_within_its_deadline_keeps_its_result(timerless_pool: Pool) -> None:
    assert timerless_pool.run(0.0, timeout=5).result(timeout=10) == "finished"
    assert timerless_pool.stats().timed_out == 0


def test_the_task_sees_its_deadline_in_its_thread_state() -> None:
    def read(_: object) -> tuple[float | None, float]:
        state = current_state()
        assert state is not None
        return state.task_deadline, time.monotonic()

    with Pool(1, task=read) as pool:
        deadline, now = pool.run(None, timeout=30).result(timeout=10)
        assert deadline is not None
        assert 29 < deadline - now <= 30
        assert pool.run(None).result(timeout=10)[0] is None  # no timeout: no deadline
        # and cleared between tasks
        assert pool.submit(lambda: current_state().task_deadline).result() is None  # type: ignore[union-attr]


@pytest.mark.single_thread
@pytest.mark.parametrize("balancer", ["least-busy", "round-robin"])
def test_every_deadline_holds_on_an_oversubscribed_machine(balancer: str) -> None:
    # Another pool keeps 4 workers spinning on 2 cores, so the timer thread rarely gets a CPU in
    # time; each of 200 tasks would need 20 ms but has 5 ms: every one must end TimeoutError.
    stop = threading.Event()

    def burn() -> None:
        while not stop.is_set():
            pass

    with Pool(4, "burner") as burner:
        burning = [burner.submit(burn) for _ in range(4)]
        try:
            with Pool(2, task=cooperative_work, balancer=balancer) as pool:
                futures = [pool.run(0.02, timeout=0.005) for _ in range(200)]
                outcomes = []
                for future in futures:
                    try:
                        outcomes.append(future.result(timeout=60))
                    except TimeoutError:
                        outcomes.append("timed out")
            stats = pool.stats()
        finally:
            stop.set()
        for future in burning:
            future.result(timeout=30)
    wrong = [o for o in outcomes if o != "timed out"]
    assert not wrong, f"{len(wrong)} of 200 tasks returned a result after their deadline"
    assert stats.timed_out == 200
    assert stats.completed == 0
