"""Exit with coroutines awaiting ftpool objects: every one ends and the process exits quietly.

* a thread's event loop awaits pool futures (more work than workers) and a ``map_async`` (all of
  its input submitted) when the main thread returns: the pool finishes the queued work at exit,
  and the loop is woken for each;
* the main thread's ``asyncio.run`` ends with tasks still awaiting long pool tasks: asyncio.run
  cancels them, which cancels the pool tasks (they stop at their next check);
* a coroutine Worker waits for its creator in ``asyncio.to_thread(port.receive)``: at exit its
  creator side is closed, so it receives ``EndOfChannel`` and ends normally.

(A loop closed while a coroutine awaits is left out: ftpool stays quiet, but asyncio itself
rightly reports "Task was destroyed but it is pending!" for the abandoned task; see
test_pool_asyncio.)

Prints, from an atexit handler (which runs after the threads were joined), how each ended.
"""

import asyncio
import atexit
import threading
import time

import ftpool

pool = ftpool.Pool(max_workers=2)
started = threading.Event()
outcomes: dict[str, object] = {}


def work(i: int) -> int:
    time.sleep(0.002)
    return i


def spin() -> None:
    started.set()
    while True:
        ftpool.check_cancelled()
        time.sleep(0.001)


submitted = threading.Event()


async def thread_loop() -> None:
    futures = [pool.submit(work, i) for i in range(100)]
    # the whole input fits in the window: all of it is submitted at the first result
    mapped = pool.map_async(work, range(50), chunksize=5, buffersize=50)
    first = await anext(mapped)
    submitted.set()  # the main thread returns now, with most of this work still queued
    rest = [x async for x in mapped]
    results = await asyncio.gather(*futures)
    outcomes["thread loop"] = (sum(results), [first, *rest] == list(range(50)))


async def main_loop() -> list[ftpool.PoolFuture[None]]:
    spinning = [pool.submit(spin) for _ in range(2)]
    for future in spinning:
        asyncio.get_running_loop().create_task(_await(future))
    await asyncio.to_thread(started.wait, 10)
    return spinning  # the awaiting tasks are left pending: asyncio.run cancels them


async def _await(future: object) -> object:
    return await future  # type: ignore[misc]


async def worker_target() -> None:
    port = ftpool.parent_port()
    assert port is not None
    while True:
        message = await asyncio.to_thread(port.receive)  # EndOfChannel at exit ends the loop
        outcomes.setdefault("worker got", []).append(message)  # type: ignore[union-attr]


spinning = asyncio.run(main_loop())
loop_thread = threading.Thread(target=asyncio.run, args=(thread_loop(),))
loop_thread.start()
worker = ftpool.Worker(worker_target)
worker.post_message("hello")
submitted.wait(10)


def report() -> None:
    print(
        "thread loop", outcomes.get("thread loop"),
        "spinning cancelled", all(f.cancelled() for f in spinning),
        "worker", worker.exit_code, worker.exception, outcomes.get("worker got"),
    )


atexit.register(report)
print("main returns")
