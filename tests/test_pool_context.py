"""contextvars: work submitted from async code (``run``, ``submit``, ``map_async`` while an event
loop runs in the calling thread) runs in a copy of the submitter's context, as
``asyncio.to_thread`` does; ``submit`` from sync code keeps ``ThreadPoolExecutor``'s behaviour."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

from ftpool import Pool

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def read_var() -> str:
    return request_id.get()


def set_and_read(value: str) -> str:
    request_id.set(value)  # changes the task's copy only
    return request_id.get()


def test_submit_and_run_from_a_coroutine_see_its_context() -> None:
    async def main(pool: Pool) -> list[str]:
        request_id.set("req-1")
        got = [await pool.submit(read_var), await pool.run(None, name="read")]
        got.append(pool.submit(read_var).result())  # a plain call from async code: same
        return got

    with Pool(handlers={"read": lambda _: read_var()}, max_workers=2) as pool:
        assert asyncio.run(main(pool)) == ["req-1", "req-1", "req-1"]


def test_the_copy_is_taken_at_the_call_and_changes_stay_in_the_task() -> None:
    async def main(pool: Pool) -> tuple[str, str, str]:
        request_id.set("before")
        future = pool.submit(read_var)
        request_id.set("after")  # too late for the task submitted above
        changed = await pool.submit(set_and_read, "inside")
        return await future, changed, request_id.get()

    with Pool(max_workers=1) as pool:
        assert asyncio.run(main(pool)) == ("before", "inside", "after")


def test_concurrent_tasks_of_one_coroutine_each_get_their_own_copy() -> None:
    # One Context cannot be entered by two threads at once: every task needs its own copy.
    barrier = threading.Barrier(2, timeout=10)

    def together(value: str) -> str:
        request_id.set(value)
        barrier.wait()
        return request_id.get()

    async def main(pool: Pool) -> list[str]:
        request_id.set("shared")
        return await asyncio.gather(pool.submit(together, "a"), pool.submit(together, "b"))

    with Pool(max_workers=2) as pool:
        assert asyncio.run(main(pool)) == ["a", "b"]


def test_map_async_chunks_run_in_the_callers_context() -> None:
    async def main(pool: Pool) -> list[str]:
        request_id.set("mapped")
        return [x async for x in pool.map_async(lambda _: read_var(), range(64), chunksize=4)]

    with Pool(max_workers=2) as pool:
        assert asyncio.run(main(pool)) == ["mapped"] * 64


def test_each_coroutine_gets_its_own_context() -> None:
    async def handle(pool: Pool, name: str) -> str:
        request_id.set(name)
        await asyncio.sleep(0)
        return await pool.submit(read_var)

    async def main(pool: Pool) -> list[str]:
        return await asyncio.gather(*(handle(pool, f"req-{i}") for i in range(20)))

    with Pool(max_workers=2) as pool:
        assert asyncio.run(main(pool)) == [f"req-{i}" for i in range(20)]


def test_sync_submit_keeps_thread_pool_executor_behaviour() -> None:
    # Both executors' workers are started outside the context in which the variable is set;
    # then a sync submit does not carry the submitter's context to them (and the value read
    # is the same as ThreadPoolExecutor's).
    with Pool(max_workers=1, min_workers=1) as pool, ThreadPoolExecutor(1) as tpe:
        tpe.submit(read_var).result()

        def submit_both() -> tuple[str, str]:
            request_id.set("sync caller")
            return pool.submit(read_var).result(), tpe.submit(read_var).result()

        ours, theirs = contextvars.copy_context().run(submit_both)
    assert ours == theirs
    assert ours != "sync caller"
