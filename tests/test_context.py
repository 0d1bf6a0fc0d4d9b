"""Thread context outside workers, CancelToken and check_cancelled."""

from __future__ import annotations

import threading

import pytest

import ftpool
from ftpool._context import ThreadState, new_thread_id, set_state


def test_outside_workers_the_context_is_the_main_thread_one() -> None:
    assert ftpool.is_main_thread() is True
    assert ftpool.thread_id() == 0
    assert ftpool.worker_data() is None
    assert ftpool.parent_port() is None
    ftpool.check_cancelled()  # no-op outside workers


def test_a_plain_thread_counts_as_main_like_in_node() -> None:
    seen: list[tuple[bool, int]] = []
    thread = threading.Thread(target=lambda: seen.append((ftpool.is_main_thread(),
                                                          ftpool.thread_id())))
    thread.start()
    thread.join()
    assert seen == [(True, 0)]


def test_thread_ids_are_unique_and_increasing_across_threads() -> None:
    ids: list[list[int]] = [[] for _ in range(4)]

    def take(bucket: list[int]) -> None:
        for _ in range(500):
            bucket.append(new_thread_id())

    threads = [threading.Thread(target=take, args=(bucket,)) for bucket in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [i for bucket in ids for i in bucket]
    assert len(set(flat)) == len(flat) == 2000
    for bucket in ids:
        assert bucket == sorted(bucket)


def test_cancel_token_runs_callbacks_once_and_keeps_the_first_reason() -> None:
    token = ftpool.CancelToken()
    calls: list[object] = []
    assert token.add_callback(calls.append)
    assert not token.cancelled
    token.raise_if_cancelled()
    assert token.cancel("first") is True
    assert token.cancel("second") is False
    assert calls == ["first"]
    assert token.reason == "first"
    with pytest.raises(ftpool.Cancelled) as info:
        token.raise_if_cancelled()
    assert info.value.reason == "first"
    # too late to register: the caller is told so and the callback never runs
    assert token.add_callback(calls.append) is False
    assert calls == ["first"]


def test_removed_callback_does_not_run() -> None:
    token = ftpool.CancelToken()
    calls: list[object] = []
    token.add_callback(calls.append)
    token.remove_callback(calls.append)
    token.remove_callback(calls.append)  # absent: no error
    token.cancel()
    assert calls == []


def test_a_raising_cancel_callback_is_reported_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reported: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args.exc_value))
    token = ftpool.CancelToken()
    calls: list[object] = []
    token.add_callback(lambda reason: 1 / 0)
    token.add_callback(calls.append)
    token.cancel("why")
    assert calls == ["why"]
    assert len(reported) == 1
    assert isinstance(reported[0], ZeroDivisionError)


def test_cancel_from_many_threads_runs_each_callback_exactly_once() -> None:
    for _ in range(50):
        token = ftpool.CancelToken()
        calls: list[object] = []
        token.add_callback(calls.append)
        barrier = threading.Barrier(4)

        def race(token: ftpool.CancelToken = token, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            token.cancel(threading.current_thread().name)

        threads = [threading.Thread(target=race) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(calls) == 1
        assert calls[0] == token.reason


def test_check_cancelled_raises_terminated_then_cancelled_in_an_ftpool_thread() -> None:
    outcomes: list[str] = []

    def body() -> None:
        state = ThreadState(thread_id=new_thread_id())
        set_state(state)
        try:
            state.task_token = ftpool.CancelToken()
            ftpool.check_cancelled()
            state.task_token.cancel("late")
            with pytest.raises(ftpool.Cancelled):
                ftpool.check_cancelled()
            state.stop.cancel()
            with pytest.raises(ftpool.Terminated):
                ftpool.check_cancelled()
            outcomes.append("ok")
        finally:
            set_state(None)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert outcomes == ["ok"]
