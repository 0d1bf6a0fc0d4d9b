"""Exit with SharedArray views over one buffer open, a thread in Atomics.wait woken just before
main returns, and a Worker blocked in Atomics.wait that is terminated."""

import atexit
import threading

import ftpool

buffer = ftpool.SharedBuffer(64)
views = [ftpool.SharedArray(tc, buffer) for tc in "bBhHiIqQ"]
flags = ftpool.SharedArray("i", 4)
counter = ftpool.AtomicCounter()
results: list[str] = []


def waiter() -> None:
    results.append(ftpool.Atomics.wait(flags, 0, 0))


def worker_waits() -> None:
    ftpool.Atomics.wait(flags, 1, 0)


thread = threading.Thread(target=waiter)
thread.start()
worker = ftpool.Worker(worker_waits)
for view in views:
    ftpool.Atomics.add(view, 0, 1)
counter.add(5)


code = worker.terminate(timeout=10)
ftpool.Atomics.store(flags, 0, 1)  # the waiter returns "ok" if it waits now, else "not-equal"
ftpool.Atomics.notify(flags, 0)


def report() -> None:
    print("byte 0", views[1][0], "counter", counter.load(),
          "waiter", results in (["ok"], ["not-equal"]), "worker exit", code)


atexit.register(report)
print("main returns")
