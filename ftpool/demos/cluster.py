"""The article's "Worker Pool Pattern" on a Dask cluster: the ``pool`` demo, with the consumers
in other processes (``ftpool.dask.DaskPool``) instead of threads of this one.

It starts a local cluster (``--workers`` processes with ``--threads`` threads each, on 127.0.0.1,
no dashboard; on 3.13t the workers get ``PYTHON_GIL=0``), or uses the scheduler at ``--address``.
As in the article, a producer (a :class:`~ftpool.Worker` thread here) makes 5 items, 1.5 s of CPU
work each, and posts them on a :class:`~ftpool.MessageChannel`; the listener on the other port
sends each "data" item to the pool (``pool.run``), and on "end" broadcasts to every Dask worker.
Each consumer works 1 s on its item in a worker process; its result comes back through the
item's future, saying which worker process and thread ran it. Times are multiplied by
``--scale``.

The channel stays in this process: channels and ports connect threads, not machines. What
crosses to the cluster is the task and its argument (pickled), and the result.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from concurrent.futures import Future
from typing import Any

import ftpool
from ftpool import MessageChannel, MessagePort, Worker

try:  # the optional extra; main() says how to install it
    import distributed

    import ftpool.dask.remote  # what the tasks need in the worker processes
    from ftpool.dask import DaskPool, local_cluster
except ImportError:
    distributed = None

from ._timeline import Timeline, demo_parser, iterations_for, spin

ITEMS = 5
PRODUCE_SECONDS = 1.5
CONSUME_SECONDS = 1.0

timeline = Timeline()


def producer_main() -> None:
    """Post ITEMS items on the port, each after PRODUCE_SECONDS of work, then "end"."""
    data = ftpool.worker_data()
    port: MessagePort = data["port"]
    for i in range(ITEMS):
        spin(data["work"])  # simulate heavy work (the article: 1.5 s)
        timeline.log(f"Produced: {i}")
        port.post_message({"type": "data", "data": str(i)})
    port.post_message({"type": "end"})
    port.close()


def consume(item: str, work: int) -> dict[str, Any]:
    """A consumer's job, run in a Dask worker process (the article: 1 s of busy work)."""
    started = time.perf_counter()
    spin(work)
    return {
        "item": item,
        "worker": distributed.get_worker().address,
        "pid": os.getpid(),
        "thread_id": ftpool.thread_id(),
        "ms": (time.perf_counter() - started) * 1e3,
    }


def warm_up() -> None:
    """Import what the tasks need in a worker process (this module, ftpool.dask.remote), before
    the clock matters."""


def end_of_data() -> str:
    """Broadcast to every Dask worker when the producer is done (the article's "end")."""
    return f"{distributed.get_worker().address} (pid {os.getpid()})"


class ClusterDemo:
    """The article's ``Pool`` wiring on a DaskPool: a port whose messages feed the cluster."""

    def __init__(self, client: Any, port: MessagePort, consume_work: int) -> None:
        self.pool = DaskPool(client, task=functools.partial(consume, work=consume_work))
        self.port = port
        self.results: list[Future[Any]] = []
        self.ends: list[Future[Any]] = []
        self.ended = threading.Event()
        port.on("message", self._dispatch)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "data":
            timeline.log(f"sends item {message['data']} to the cluster")
            future = self.pool.run(message["data"])
            future.add_done_callback(self._consumed)
            self.results.append(future)
        elif message["type"] == "end":
            self.ends.extend(self.pool.broadcast(end_of_data))
            self.ended.set()

    @staticmethod
    def _consumed(future: Future[Any]) -> None:
        if future.exception() is not None:
            timeline.log("a consumer failed:", repr(future.exception()))
            return
        done = future.result()
        timeline.log(
            f"Consumed: {done['item']} on {done['worker']} (pid {done['pid']}, thread "
            f"{done['thread_id']}), {done['ms']:.0f} ms of work"
        )

    def finish(self) -> bool:
        """Wait for "end", every item and the broadcast; True if all went well."""
        self.ended.wait()
        self.pool.close()
        self.port.wait_closed()
        return all(f.exception() is None for f in self.results + self.ends)


def run_scenario(client: Any, scale: float) -> tuple[bool, list[str], list[str]]:
    """The article's scenario through a DaskPool on ``client``'s cluster. Returns (all went well,
    the items consumed in order, where "end" was delivered)."""
    produce = iterations_for(PRODUCE_SECONDS * scale)
    consume_work = iterations_for(CONSUME_SECONDS * scale)
    client.run(warm_up)  # the first task on a worker would otherwise pay for the imports
    channel = MessageChannel()
    demo = ClusterDemo(client, channel.port2, consume_work)
    producer = Worker(
        producer_main, data={"port": channel.port1, "work": produce}, name="producer"
    )
    producer.on("exit", lambda code: timeline.log(f"Producer exited ({code})"))
    threads = sum(client.nthreads().values())
    timeline.log(f"main thread is free; {threads} consumer threads wait in the cluster")
    ok = producer.join() == 0
    ok = demo.finish() and ok
    items = [f.result()["item"] for f in demo.results if f.exception() is None]
    ends = [f.result() for f in demo.ends if f.exception() is None]
    timeline.log(f"items consumed: {items}; 'end' reached {len(ends)} worker processes:")
    for where in ends:
        timeline.log(f"  end of data at {where}")
    stats = demo.pool.stats()
    timeline.log(
        f"pool: {stats.completed} tasks completed, {stats.failed} failed; longest run "
        f"{stats.run_time.max * 1e3:.0f} ms; longest submit-to-result overhead "
        f"{stats.wait_time.max * 1e3:.1f} ms"
    )
    return ok and len(items) == ITEMS and len(ends) == len(client.nthreads()), items, ends


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code."""
    global timeline
    parser = demo_parser("cluster", __doc__ or "")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker (default 2)")
    parser.add_argument(
        "--address", default=None, help="use the Dask scheduler at ADDRESS instead of starting one"
    )
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be >= 1")
    if distributed is None:
        print("the cluster demo needs distributed: pip install 'ftpool[dask]'")
        return 2
    timeline = Timeline()
    cluster = None
    if args.address is None:
        timeline.log(
            f"starting a local Dask cluster: {args.workers} worker processes x {args.threads} "
            "threads on 127.0.0.1"
        )
        cluster = local_cluster(args.workers, args.threads)
    client = distributed.Client(cluster if cluster is not None else args.address,
                                set_as_default=False)
    try:
        timeline.log(f"cluster ready: scheduler {client.scheduler.address}")
        ok, _, _ = run_scenario(client, args.scale)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    timeline.log("Main process exits")
    return 0 if ok else 1
