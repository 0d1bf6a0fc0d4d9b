"""Exit while coroutines await ftpool objects: Workers whose target runs an event loop that waits
in `async for msg in parent_port()` and in `await parent_port().receive_async()` (for work that
never comes, one with messages still queued). At exit their creator sides are closed for sending:
each coroutine receives what was posted, then EndOfChannel, so the loops and the threads end."""

import asyncio
import atexit
import threading

import ftpool

got: list[object] = []
lock = threading.Lock()


async def iterate() -> None:
    port = ftpool.parent_port()
    assert port is not None
    async for message in port:
        with lock:
            got.append(message)


async def bare() -> None:
    port = ftpool.parent_port()
    assert port is not None
    while True:
        message = await port.receive_async()
        with lock:
            got.append(message)


def run(coroutine_function: object) -> None:
    asyncio.run(coroutine_function())  # type: ignore[operator]


workers = [ftpool.Worker(run, iterate), ftpool.Worker(run, bare), ftpool.Worker(run, iterate)]
for i in range(100):
    workers[2].post_message(i)  # queued for it as main returns
codes: list[int] = []
for worker in workers:
    worker.on("exit", codes.append)


def report() -> None:
    print("exit codes", sorted(codes), "received", len(got),
          "errors", [w.exception for w in workers])


atexit.register(report)
print("main returns")
