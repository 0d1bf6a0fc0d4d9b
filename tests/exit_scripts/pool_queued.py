"""Exit with work queued in pools and nothing shut down: the queued work completes first.

Prints, from an atexit handler (which runs after the pools were joined), how the futures ended.
"""

import atexit
import threading
import time

import ftpool

done: list[int] = []
lock = threading.Lock()


def work(i: int) -> int:
    time.sleep(0.0005)
    with lock:
        done.append(i)
    return i


pools = [ftpool.Pool(max_workers=2, balancer=b) for b in ("least-busy", "round-robin")]
futures = [pool.submit(work, i) for pool in pools for i in range(150)]
timed = ftpool.Pool(task=lambda x: x, max_workers=1)
futures += [timed.run(i, timeout=30) for i in range(50)]
mapped = pools[0].map(abs, range(-500, 0))  # chunks queued too, never consumed


def report() -> None:
    states = {"result": 0, "other": 0}
    for f in futures:
        states["result" if f.done() and not f.cancelled() and f.exception() is None
               else "other"] += 1
    print("completed", states["result"], "other", states["other"], "work ran", len(done))


atexit.register(report)
print("main returns with", sum(not f.done() for f in futures), "tasks not done")
