"""Worker: thread context, messages, events, exit codes, errors, cooperative terminate."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest
from messaging_helpers import captured_excepthook, wait_for

import ftpool
from ftpool import (
    Channel,
    ClosedError,
    EndOfChannel,
    MessageChannel,
    Terminated,
    Worker,
    check_cancelled,
    parent_port,
    select,
)


def port() -> ftpool.MessagePort:
    p = parent_port()
    assert p is not None
    return p


def test_thread_context_inside_and_outside() -> None:
    def report_context(extra: int, *, key: str) -> None:
        port().post_message(
            (
                ftpool.is_main_thread(),
                ftpool.thread_id(),
                ftpool.worker_data(),
                extra,
                key,
                threading.current_thread().name,
            )
        )

    data = {"count_to": 10}
    worker = Worker(report_context, 5, data=data, name="ctx", key="k")
    is_main, tid, got_data, extra, key, name = worker.receive(timeout=5)
    assert worker.join(5) == 0
    assert (is_main, got_data, extra, key, name) == (False, data, 5, "k", "ctx")
    assert got_data is data  # shared, not copied
    assert tid == worker.thread_id > 0
    assert worker.name == "ctx"
    assert ftpool.is_main_thread()
    assert ftpool.thread_id() == 0
    assert ftpool.parent_port() is None


def test_thread_ids_are_unique_and_increasing() -> None:
    workers = [Worker(lambda: None) for _ in range(5)]
    ids = [w.thread_id for w in workers]
    for w in workers:
        w.join()
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert workers[0].name == f"ftpool-worker-{ids[0]}"


def test_messages_both_ways_and_end_of_channel_after_exit() -> None:
    def double() -> None:
        for message in port():
            if message is None:
                return
            port().post_message(message * 2)

    with Worker(double) as worker:
        for i in range(5):
            worker.post_message(i)
        worker.post_message(None)
        assert list(worker) == [0, 2, 4, 6, 8]  # ends when the worker has exited
    assert worker.exit_code == 0
    with pytest.raises(EndOfChannel):
        worker.receive()
    with pytest.raises(ClosedError, match="exited"):
        worker.post_message("too late")
    assert not worker.is_alive()


def test_events_online_message_exit_in_order() -> None:
    events: list[tuple[str, Any]] = []
    lock = threading.Lock()
    start = threading.Event()

    def record(name: str) -> Any:
        def callback(*args: Any) -> None:
            with lock:
                events.append((name, args))

        return callback

    def target() -> None:
        start.wait(5)
        for i in range(3):
            port().post_message(i)

    worker = Worker(target)
    worker.on("exit", record("exit"))
    worker.on("message", record("message"))
    worker.on("error", record("error"))
    worker.on("online", record("online"))  # may come after the thread started: replayed
    start.set()
    assert worker.join(5) == 0
    assert events[0] == ("online", ())
    assert events[1:] == [("message", (0,)), ("message", (1,)), ("message", (2,)), ("exit", (0,))]
    late: list[int] = []
    worker.on("exit", late.append)  # after the fact: called at once
    assert late == [0]


def test_error_goes_to_listeners_with_exit_code_1() -> None:
    gate = threading.Event()
    errors: list[BaseException] = []
    codes: list[int] = []

    def fail() -> None:
        gate.wait(5)
        raise KeyError("boom")

    worker = Worker(fail)
    worker.on("error", errors.append)
    worker.on("exit", codes.append)
    gate.set()
    assert worker.join(5) == 1
    assert isinstance(worker.exception, KeyError)
    assert errors == [worker.exception]
    assert codes == [1]


def test_error_without_listener_goes_to_excepthook(monkeypatch: pytest.MonkeyPatch) -> None:
    with captured_excepthook(monkeypatch) as reported:
        worker = Worker(lambda: 1 / 0, name="divider")
        assert worker.join(5) == 1
    assert len(reported) == 1
    assert isinstance(reported[0], ZeroDivisionError)
    assert any("divider" in note for note in reported[0].__notes__)
    assert isinstance(worker.exception, ZeroDivisionError)


def test_raising_event_listener_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def bad_listener(code: int) -> None:
        raise RuntimeError(f"exit listener failed with {code}")

    with captured_excepthook(monkeypatch) as reported:
        gate = threading.Event()
        worker = Worker(gate.wait, 5)
        worker.on("exit", bad_listener)
        gate.set()
        assert worker.join(5) == 0
    assert [type(e) for e in reported] == [RuntimeError]


def test_sys_exit_sets_the_exit_code_without_error() -> None:
    worker = Worker(sys.exit, 3)
    assert worker.join(5) == 3
    assert worker.exception is None
    assert Worker(sys.exit).join(5) == 0


@pytest.mark.single_thread  # counts every thread of the process
def test_non_callable_target_is_a_type_error_and_starts_nothing() -> None:
    before = threading.active_count()
    with pytest.raises(TypeError, match="callable"):
        Worker(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        Worker(print, name=5)  # type: ignore[arg-type]
    assert threading.active_count() == before


def test_unknown_event_lists_the_valid_ones() -> None:
    with Worker(lambda: None) as worker:
        with pytest.raises(ValueError, match="online, message, error, exit"):
            worker.on("done", print)
        with pytest.raises(TypeError):
            worker.on("exit", None)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="valid events"):
            worker.off("done", print)


def test_off_removes_a_listener() -> None:
    codes: list[int] = []
    gate = threading.Event()
    worker = Worker(gate.wait, 5)
    worker.on("exit", codes.append)
    assert worker.off("exit", codes.append)
    assert not worker.off("message", codes.append)
    gate.set()
    worker.join(5)
    assert codes == []


def test_join_timeout_and_join_from_inside() -> None:
    gate = threading.Event()
    worker = Worker(gate.wait, 5)
    assert worker.join(timeout=0.01) is None
    assert worker.is_alive()
    assert "running" in repr(worker)
    with pytest.raises(ValueError, match="timeout"):
        worker.join(timeout=-1)
    gate.set()
    assert worker.join(5) == 0
    assert "code=0" in repr(worker)

    def join_self() -> None:
        me: Worker = ftpool.worker_data()["me"]
        me.join()

    holder: dict[str, Worker] = {}
    release = threading.Event()

    def wait_then_join() -> None:
        release.wait(5)
        join_self()

    inner = Worker(wait_then_join, data=holder)
    holder["me"] = inner
    codes: list[int] = []
    errors: list[BaseException] = []
    inner.on("error", errors.append)
    inner.on("exit", codes.append)
    release.set()
    assert inner.join(5) == 1
    assert isinstance(errors[0], RuntimeError)


# ----------------------------------------------------------------------------------- terminate


def test_terminate_wakes_a_worker_blocked_in_receive() -> None:
    for _ in range(10):
        worker = Worker(lambda: port().receive())
        wait_for(lambda w=worker: w._port._peer._in.stats().waiting_receivers == 1)  # type: ignore[misc]
        started = time.monotonic()
        assert worker.terminate(timeout=5) == 1
        assert time.monotonic() - started < 2
        assert worker.exception is None  # terminate() is not an error
        assert not worker.is_alive()


@pytest.mark.parametrize("capacity", [0, 1])
def test_terminate_wakes_a_worker_blocked_in_a_channel(capacity: int) -> None:
    for _ in range(5):
        ch: Channel[int] = Channel(capacity)
        worker = Worker(ch.receive)
        wait_for(lambda ch=ch: ch.stats().waiting_receivers == 1)  # type: ignore[misc]
        assert worker.terminate(timeout=5) == 1
        ch.send(1)  # the channel still works for others
        assert ch.receive() == 1


def test_terminate_wakes_a_worker_blocked_in_a_bounded_send() -> None:
    ch: Channel[int] = Channel(1)
    ch.send(0)
    worker = Worker(ch.send, 1)
    wait_for(lambda: ch.stats().waiting_senders == 1)
    assert worker.terminate(timeout=5) == 1
    assert list((ch.close(), ch)[1]) == [0]  # the blocked send did not half-happen


def test_terminate_wakes_a_worker_blocked_in_select() -> None:
    a: Channel[int] = Channel()
    b: Channel[int] = Channel(2)
    worker = Worker(select, a, b)
    wait_for(lambda: a.stats().waiting_receivers == 1 and b.stats().waiting_receivers == 1)
    assert worker.terminate(timeout=5) == 1
    assert a.stats().waiting_receivers == 0


def test_terminate_one_of_several_workers_sharing_a_channel() -> None:
    # The wake-up token queued for the terminated worker must reach it, not be stolen by the
    # others, and must not cost them any item.
    for _ in range(5):
        ch: Channel[int] = Channel()
        results = Channel[int]()

        def consume(ch: Channel[int] = ch, results: Channel[int] = results) -> None:
            for item in ch:
                results.send(item)

        workers = [Worker(consume, name=f"consumer-{i}") for i in range(3)]
        wait_for(lambda ch=ch: ch.stats().waiting_receivers == 3)  # type: ignore[misc]
        assert workers[1].terminate(timeout=5) == 1
        for i in range(100):
            ch.send(i)
        ch.close()
        assert [w.join(5) for w in workers] == [0, 1, 0]
        results.close()
        assert sorted(results) == list(range(100))


def test_terminated_worker_gets_terminated_from_its_next_call() -> None:
    started = threading.Event()
    seen: list[str] = []

    def busy() -> None:
        started.set()
        while True:  # pure Python work, then an ftpool call
            try:
                check_cancelled()
            except Terminated:
                seen.append("check_cancelled")
                break
        try:
            port().post_message("x")
        except Terminated:
            seen.append("post_message")
        try:
            port().receive_nowait()
        except Terminated:
            seen.append("receive_nowait")
        raise Terminated("done")

    worker = Worker(busy)
    assert started.wait(5)
    assert worker.terminate(timeout=5) == 1
    assert seen == ["check_cancelled", "post_message", "receive_nowait"]


def test_terminate_after_exit_returns_the_exit_code() -> None:
    worker = Worker(lambda: None)
    assert worker.join(5) == 0
    assert worker.terminate() == 0


def test_terminate_timeout_when_the_worker_never_calls_ftpool() -> None:
    release = threading.Event()
    worker = Worker(release.wait, 5)  # not an ftpool call: cannot be interrupted
    with pytest.raises(TimeoutError, match="did not exit"):
        worker.terminate(timeout=0.05)
    release.set()
    assert worker.join(5) == 0  # returned normally after all


def test_terminate_from_inside_raises_terminated() -> None:
    holder: dict[str, Worker] = {}
    gate = threading.Event()

    def stop_myself() -> None:
        gate.wait(5)
        holder["me"].terminate()

    worker = Worker(stop_myself)
    holder["me"] = worker
    gate.set()
    assert worker.join(5) == 1
    assert worker.exception is None


def test_with_block_terminates_the_worker_when_the_block_raises() -> None:
    with pytest.raises(KeyError), Worker(lambda: port().receive()) as worker:
        raise KeyError("the block failed")
    assert worker.exit_code == 1
    assert not worker.is_alive()


def test_worker_uses_a_transferred_port() -> None:
    a, b = MessageChannel()

    def echo() -> None:
        p: ftpool.MessagePort = ftpool.worker_data()
        for message in p:
            p.post_message(message.upper())

    worker = Worker(echo, data=b)
    a.post_message("hi")
    assert a.receive(timeout=5) == "hi".upper()
    a.close()
    assert worker.join(5) == 0


def test_raising_terminated_without_terminate_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def raise_it() -> None:
        raise Terminated("raised by the target itself")

    with captured_excepthook(monkeypatch) as reported:
        worker = Worker(raise_it)
        assert worker.join(5) == 1
    assert isinstance(worker.exception, Terminated)
    assert len(reported) == 1


def test_join_and_terminate_from_an_exit_listener_on_the_worker_thread() -> None:
    seen: list[tuple[int | None, int]] = []
    gate = threading.Event()
    worker = Worker(gate.wait, 5)

    def on_exit(code: int) -> None:  # no "message" listener: runs on the worker thread
        seen.append((worker.join(), worker.terminate()))

    worker.on("exit", on_exit)
    gate.set()
    assert worker.join(5) == 0
    assert seen == [(0, 0)]


def test_join_from_a_message_listener_waits_for_the_worker() -> None:
    joined: list[int | None] = []

    def post_then_end() -> None:
        port().post_message("last words")

    worker = Worker(post_then_end)
    done = threading.Event()

    def on_message(message: str) -> None:
        joined.append(worker.join(5))  # on the listener thread: waits for the worker thread only
        done.set()

    worker.on("message", on_message)
    assert done.wait(5)
    assert worker.join(5) == 0
    assert joined == [0]


def test_terminating_several_workers_blocked_on_one_channel_at_once() -> None:
    # Wake-up tokens pass between the receivers; every terminated one leaves, the others keep
    # receiving, and no terminated worker stays listed as pending (which would stall the others).
    for _ in range(20):
        ch: Channel[int] = Channel()
        got = Channel[int]()

        def consume(ch: Channel[int] = ch, got: Channel[int] = got) -> None:
            for item in ch:
                got.send(item)

        workers = [Worker(consume) for _ in range(3)]
        wait_for(lambda ch=ch: ch.stats().waiting_receivers == 3)  # type: ignore[misc]
        workers[0]._state.stop.cancel("test")  # ask two to stop at the same moment
        workers[1]._state.stop.cancel("test")
        assert [workers[0].join(5), workers[1].join(5)] == [1, 1]
        ch.send(7)
        assert got.receive(timeout=5) == 7
        ch.close()
        assert workers[2].join(5) == 0
        assert ch.stats().waiting_receivers == 0
