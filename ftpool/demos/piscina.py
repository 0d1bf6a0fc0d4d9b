"""What the article recommends next, Piscina, on :class:`ftpool.Pool`: ``run`` with a default task
and named handlers, the first idle worker taking the next task, cancellation that stops a running
task without killing its worker, timeouts counted from the start of a task, a chunked ``map`` of
tiny tasks, and ``stats()``.

Every step prints what it shows; times are multiplied by ``--scale``.
"""

from __future__ import annotations

import time

import ftpool
from ftpool import Cancelled, CancelToken, Pool

from ._timeline import Timeline, demo_parser, iterations_for, spin

WORKERS = 2

timeline = Timeline()


def fib(n: int) -> int:
    """The default task: CPU work that returns a value."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


ran_on: list[int] = []  # the worker of each "count" task (list.append is atomic)


def count_until_cancelled(iterations: int) -> str:
    """A long task that checks its cancel token between slices of work (as Piscina users wish
    their tasks could: stop, and keep the worker)."""
    ran_on.append(ftpool.thread_id())
    for _ in range(100):
        ftpool.check_cancelled()  # raises Cancelled once the token (or Future.cancel) fired
        spin(iterations // 100)
    return f"counted {iterations} on worker {ftpool.thread_id()}"


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code."""
    global timeline
    args = demo_parser("piscina", __doc__ or "").parse_args(argv)
    long_work = iterations_for(2.0 * args.scale)
    timeline = Timeline()
    ok = True

    with Pool(task=fib, handlers={"count": count_until_cancelled}, max_workers=WORKERS) as pool:

        @pool.handler
        def square(x: int) -> int:
            return x * x

        # 1. run: the default task, then named handlers
        results = [pool.run(n).result() for n in (10, 20, 30)]
        timeline.log(f"run(n) -> fib: {results}")
        timeline.log(f"run(7, name='square') -> {pool.run(7, name='square').result()}")
        try:
            pool.run(1, name="cube")
        except ftpool.UnknownHandlerError as exc:
            timeline.log(f"run(name='cube') raised at once: {exc}")

        # 2. cancellation with a CancelToken: the task stops at its next check
        token = CancelToken()
        started = time.perf_counter()
        future = pool.run(long_work, name="count", cancel=token)
        time.sleep(0.2 * args.scale)
        token.cancel("the user pressed stop")
        try:
            future.result()
            ok = False
        except Cancelled as exc:
            timeline.log(
                f"cancelled after {(time.perf_counter() - started) * 1e3:.0f} ms "
                f"(of ~{2000 * args.scale:.0f} ms of work): {exc}"
            )

        # 3. Future.cancel() on a running task; the same workers go on
        running = pool.run(long_work, name="count")
        time.sleep(0.1 * args.scale)
        timeline.log(f"Future.cancel() on a running task returns {running.cancel()} (stdlib) ...")
        try:
            running.result()
            ok = False
        except Cancelled:
            timeline.log(f"... and it ends cancelled: cancelled() = {running.cancelled()}")
        reused = pool.submit(ftpool.thread_id).result()
        timeline.log(
            f"the cancelled task ran on worker {ran_on[-1]}; the next task ran on worker "
            f"{reused}; workers alive: {pool.stats().workers} (none was killed)"
        )

        # 4. timeouts count from the start of the task, not from the queue
        blockers = [pool.run(long_work // 4, name="count") for _ in range(WORKERS)]
        # (its own work is 1/80 of its timeout: deadlines hold even under load, so the margin
        # must cover a busy machine)
        waits_first = pool.run(long_work // 80, name="count", timeout=2.0 * args.scale)
        too_long = pool.run(long_work, name="count", timeout=0.3 * args.scale)
        for blocker in blockers:
            blocker.result()
        timeline.log(f"queued behind busy workers, then ran in time: {waits_first.result()}")
        try:
            too_long.result()
            ok = False
        except TimeoutError as exc:
            timeline.log(f"timeout: {exc}")

        # 5. tiny tasks through map: chunked automatically
        started = time.perf_counter()
        total = sum(pool.map(square, range(200_000)))
        elapsed = time.perf_counter() - started
        timeline.log(
            f"map(square, 200_000 items) = {total} in {elapsed * 1e3:.0f} ms "
            f"({200_000 / elapsed:,.0f} items/s)"
        )
        ok = ok and total == sum(i * i for i in range(200_000))

        # 6. stats
        stats = pool.stats()
        timeline.log(
            f"stats: workers={stats.workers} completed={stats.completed} failed={stats.failed} "
            f"cancelled={stats.cancelled} timed_out={stats.timed_out} "
            f"utilization={stats.utilization:.0%}"
        )
        timeline.log(
            f"       run time p50={stats.run_time.p50 * 1e3:.2f} ms "
            f"p99={stats.run_time.p99 * 1e3:.2f} ms; wait time p50="
            f"{stats.wait_time.p50 * 1e3:.2f} ms p99={stats.wait_time.p99 * 1e3:.2f} ms"
        )
    timeline.log(f"pool closed; {'all as expected' if ok else 'SOMETHING WENT WRONG'}")
    return 0 if ok else 1
