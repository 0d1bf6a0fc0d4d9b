"""A Worker whose target is a coroutine function runs it under its own event loop
(``asyncio.run`` in the worker's thread); ``terminate()`` cancels its main task and the worker
exits with code 1; errors, worker_data and parent_port behave as for a sync Worker."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import ftpool
from ftpool import EndOfChannel, MessagePort, Pool, Worker

WAIT = 10.0


async def echo(count: int) -> str:
    port = ftpool.parent_port()
    assert port is not None
    for _ in range(count):
        message = await asyncio.to_thread(port.receive)
        port.post_message((message, ftpool.worker_data(), ftpool.is_main_thread()))
    return "done"


def test_a_coroutine_target_runs_under_its_own_loop_in_the_worker_thread() -> None:
    seen: list[Any] = []

    async def target(a: int, *, b: int) -> None:
        loop = asyncio.get_running_loop()
        seen.append((a, b, threading.current_thread().name, ftpool.thread_id() > 0))
        await asyncio.sleep(0.001)
        seen.append(loop is asyncio.get_running_loop())

    worker = Worker(target, 1, b=2, name="aio-worker")
    assert worker.join(WAIT) == 0
    assert seen == [(1, 2, "aio-worker", True), True]
    assert worker.exception is None


def test_parent_port_with_to_thread_receive() -> None:
    worker = Worker(echo, 3, data="payload")
    for i in range(3):
        worker.post_message(i)
        assert worker.receive(timeout=WAIT) == (i, "payload", False)
    assert worker.join(WAIT) == 0
    with pytest.raises(EndOfChannel):
        worker.receive(timeout=WAIT)


@pytest.mark.skipif(
    not hasattr(MessagePort, "__aiter__"),
    reason="MessagePort has no async iteration on this branch yet (the async ports work adds it)",
)
def test_parent_port_with_async_for() -> None:
    async def target() -> None:
        port = ftpool.parent_port()
        assert port is not None
        async for message in port:  # type: ignore[attr-defined]
            port.post_message(message * 2)
            if message == 3:
                return

    worker = Worker(target)
    for i in range(4):
        worker.post_message(i)
    assert [worker.receive(timeout=WAIT) for _ in range(4)] == [0, 2, 4, 6]
    assert worker.join(WAIT) == 0


@pytest.mark.parametrize("repeat", range(3))
def test_terminate_cancels_the_main_task_and_exits_with_code_1(repeat: int) -> None:
    cancelled = threading.Event()
    waiting = threading.Event()

    async def target() -> None:
        try:
            waiting.set()
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    worker = Worker(target)
    codes: list[int] = []
    worker.on("exit", codes.append)
    assert waiting.wait(WAIT)
    assert worker.terminate(timeout=WAIT) == 1
    assert cancelled.is_set()
    assert worker.exception is None  # a terminate is not an error
    assert codes == [1]


def test_terminate_while_receiving_through_to_thread_does_not_hang() -> None:
    # The to_thread receive is not cancellable; closing the port when the main task ends lets
    # it return, so asyncio.run can shut its executor down.
    async def target() -> None:
        port = ftpool.parent_port()
        assert port is not None
        while True:
            await asyncio.to_thread(port.receive)

    worker = Worker(target)
    worker.post_message("one")
    assert worker.terminate(timeout=WAIT) == 1


def test_terminate_before_the_loop_runs() -> None:
    gate = threading.Event()
    ran: list[str] = []

    async def body() -> None:
        ran.append("started")
        await asyncio.sleep(3600)
        ran.append("not reached")

    def target() -> Any:
        gate.wait(WAIT)  # terminate() is called before the coroutine is even created
        return body()

    worker = Worker(target)
    asked = threading.Event()
    worker._state.stop.add_callback(lambda _: asked.set())  # terminate() cancels this token
    stopper = threading.Thread(target=worker.terminate, args=(WAIT,))
    stopper.start()
    assert asked.wait(WAIT)
    gate.set()
    stopper.join(WAIT)
    assert worker.join(WAIT) == 1
    assert "not reached" not in ran


def test_an_exception_in_the_coroutine_is_the_workers_error() -> None:
    gate = threading.Event()  # the "error" listener is added before the worker can fail

    async def target() -> None:
        await asyncio.to_thread(gate.wait, WAIT)
        raise ValueError("async boom")

    errors: list[BaseException] = []
    worker = Worker(target)
    worker.on("error", errors.append)
    gate.set()
    assert worker.join(WAIT) == 1
    assert isinstance(worker.exception, ValueError)
    assert [str(e) for e in errors] == ["async boom"]


def test_a_coroutine_that_cancels_itself_is_an_error_not_a_terminate() -> None:
    gate = threading.Event()

    async def target() -> None:
        await asyncio.to_thread(gate.wait, WAIT)
        raise asyncio.CancelledError("by itself")

    errors: list[BaseException] = []
    worker = Worker(target)
    worker.on("error", errors.append)
    gate.set()
    assert worker.join(WAIT) == 1
    assert isinstance(worker.exception, asyncio.CancelledError)
    assert errors == [worker.exception]


def test_a_coroutine_worker_awaits_a_pool() -> None:
    async def target(pool: Pool) -> None:
        port = ftpool.parent_port()
        assert port is not None
        results = await asyncio.gather(*(pool.submit(pow, i, 2) for i in range(10)))
        port.post_message(results)
        port.post_message([x async for x in pool.map_async(abs, range(-3, 0))])

    with Pool(max_workers=2) as pool:
        worker = Worker(target, pool)
        assert worker.receive(timeout=WAIT) == [i * i for i in range(10)]
        assert worker.receive(timeout=WAIT) == [3, 2, 1]
        assert worker.join(WAIT) == 0


def test_many_coroutine_workers_at_once() -> None:
    workers = [Worker(echo, 5, data=i) for i in range(6)]
    for worker in workers:
        for k in range(5):
            worker.post_message(k)
    for i, worker in enumerate(workers):
        assert [worker.receive(timeout=WAIT) for _ in range(5)] == [
            (k, i, False) for k in range(5)
        ]
    assert [w.join(WAIT) for w in workers] == [0] * 6


def test_terminate_while_awaiting_a_pool_task_cancels_that_task() -> None:
    started = threading.Event()

    def spin() -> None:
        started.set()
        while True:
            ftpool.check_cancelled()
            threading.Event().wait(0.0005)

    with Pool(max_workers=1) as pool:
        futures: list[Any] = []

        async def target() -> None:
            future = pool.submit(spin)
            futures.append(future)
            await future

        worker = Worker(target)
        assert started.wait(WAIT)
        assert worker.terminate(timeout=WAIT) == 1
        # the awaiting main task was cancelled, so the pool task was cancelled with it
        with pytest.raises(ftpool.Cancelled):
            futures[0].result(WAIT)
