"""The article's "Worker Pool Pattern" on :class:`ftpool.Pool`: a producer and a pool of 5
consumers, items dealt round-robin, and the "end" message broadcast to every consumer.

As in the article, the producer (a :class:`~ftpool.Worker`) makes 5 items, 1.5 s of CPU work
each, and posts them on a :class:`~ftpool.MessageChannel`; the pool listens on the other port and
hands each "data" item to the next consumer in turn (``balancer="round-robin"``, the article's
``workers.shift()``/``push()``), and broadcasts "end" to all of them (``pool.broadcast``). Each
consumer works 1 s on its item and the result comes back through the item's future. Times are
multiplied by ``--scale``.

What ``ftpool.Pool`` adds to the article's class: the five consumers are threads that run in
parallel on 3.13t; the results come back as futures (no second channel); a consumer's exception
lands in the future instead of killing it; ``pool.close()`` waits for every item and for the
"end" broadcast, so the program knows when it is done.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import ftpool
from ftpool import MessageChannel, MessagePort, Pool, PoolFuture, Worker

from ._timeline import Timeline, demo_parser, iterations_for, spin

ITEMS = 5
PRODUCE_SECONDS = 1.5
CONSUME_SECONDS = 1.0
CONSUMERS = 5  # new Pool('./consumer.js', 5, channel.port2)

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
    port.close()  # nothing more: the pool's port listener ends after delivering "end"


def expensive_computation(item: str, work: int) -> str:
    """A consumer's job (the article: 1 s of busy work)."""
    timeline.log(f"starts item {item}")
    spin(work)
    return item


def end_of_data() -> int:
    """Broadcast to every consumer when the producer is done (the article's "end" message)."""
    timeline.log("end of data")
    return ftpool.thread_id()


class PoolDemo:
    """The article's ``Pool`` wiring: a port whose messages feed a round-robin ftpool.Pool."""

    def __init__(self, port: MessagePort, consume_work: int) -> None:
        self.pool = Pool(
            task=lambda item: expensive_computation(item, consume_work),
            max_workers=CONSUMERS,
            min_workers=CONSUMERS,  # the article creates all workers up front
            balancer="round-robin",
            thread_name_prefix="consumer",
        )
        self.port = port
        self.results: list[Future[Any]] = []
        self.ends: list[PoolFuture[Any]] = []
        self.ended = threading.Event()
        # Listen for messages on the port and distribute them to the workers.
        port.on("message", self._dispatch)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "data":
            future = self.pool.run(message["data"])  # round-robin: the next consumer
            future.add_done_callback(self._consumed)
            self.results.append(future)
        elif message["type"] == "end":
            self.ends = self.pool.broadcast(end_of_data)
            self.ended.set()

    @staticmethod
    def _consumed(future: Future[Any]) -> None:
        timeline.log("Consumed:", future.result())

    def finish(self) -> bool:
        """Wait for "end", every item and the broadcast; True if all went well."""
        self.ended.wait()
        self.pool.close()
        self.port.wait_closed()
        return all(f.exception() is None for f in self.results + self.ends)


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code."""
    global timeline
    args = demo_parser("pool", __doc__ or "").parse_args(argv)
    produce = iterations_for(PRODUCE_SECONDS * args.scale)
    consume = iterations_for(CONSUME_SECONDS * args.scale)
    timeline = Timeline()

    channel = MessageChannel()
    demo = PoolDemo(channel.port2, consume)
    producer = Worker(
        producer_main, data={"port": channel.port1, "work": produce}, name="producer"
    )
    producer.on("exit", lambda code: timeline.log(f"Producer exited ({code})"))
    timeline.log(f"main thread is free; {CONSUMERS} consumers wait (round-robin)")

    ok = producer.join() == 0
    ok = demo.finish() and ok
    by_consumer = [f.result() for f in demo.results]
    timeline.log(f"items consumed: {by_consumer}; 'end' reached {len(demo.ends)} consumers")
    stats = demo.pool.stats()
    timeline.log(
        f"pool: {stats.completed} tasks completed, {stats.failed} failed; longest run "
        f"{stats.run_time.max * 1e3:.0f} ms, longest wait in a queue "
        f"{stats.wait_time.max * 1e3:.1f} ms"
    )
    ok = ok and len(by_consumer) == ITEMS and len(demo.ends) == CONSUMERS
    timeline.log("Main process exits")
    return 0 if ok else 1
