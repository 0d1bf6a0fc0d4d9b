"""The article's refactored pool ("Access to Shared Resources"): each consumer sleeps on its own
shared pending-job counter and is woken by ``Atomics.notify``, instead of polling every second.

The producer (a :class:`~ftpool.Worker`) posts 5 items, one every 1.5 s, on a
:class:`~ftpool.MessageChannel`; the pool hands them round-robin to its consumers. For each consumer
it made a ``SharedArray('i')`` over a 4-byte :class:`~ftpool.SharedBuffer` (the article's
``Int32Array(new SharedArrayBuffer(4))``) and a channel for the jobs. Posting a job is: post it on
the consumer's channel, ``Atomics.add(pending, 0, 1)``, ``Atomics.notify(pending, 0)``. The consumer
sleeps in ``Atomics.wait(pending, 0, 0)``, drains its channel with ``receive_message_on_port`` and
``Atomics.sub``-s one per job. Each job takes 1 s. Times scale with ``--scale``.

The timestamps show each job starting within a fraction of a millisecond of being posted; the
article's first consumer (``setTimeout`` polling every 1 s) would start it up to 1000 ms later.
(The article's loop ``while (!finished || Atomics.wait(...) === "ok")`` only sleeps once
``finished`` is set, and spins until then; this one sleeps whenever no job is pending.)
"""

from __future__ import annotations

import collections
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ftpool
from ftpool import (
    Atomics,
    MessageChannel,
    MessagePort,
    SharedArray,
    SharedBuffer,
    Worker,
    receive_message_on_port,
)

from ._timeline import Timeline, demo_parser, iterations_for, spin

ITEMS = 5
PRODUCE_SECONDS = 1.5
CONSUME_SECONDS = 1.0
POLL_SECONDS = 1.0  # the article's first consumer: setTimeout(resolve, 1000)
DEFAULT_CONSUMERS = 2  # "so that there are 2 consumers processing data at the same time"

timeline = Timeline()


# --- the workers ---------------------------------------------------------------------------------


def producer_main() -> None:
    """Post ITEMS items on the port, each after PRODUCE_SECONDS of work, then "end"."""
    data = ftpool.worker_data()
    port: MessagePort = data["port"]
    for i in range(ITEMS):
        spin(data["work"])  # simulate heavy work (the article: 1.5 s)
        timeline.log(f"producer posts item {i}")
        port.post_message({"type": "data", "data": str(i)})
    port.post_message({"type": "end"})


def consumer_main() -> None:
    """Sleep until a job is pending, run every queued job, repeat until "end"."""
    data = ftpool.worker_data()
    pending: SharedArray = data["pending"]
    jobs: MessagePort = data["jobs"]
    finished = False
    free_since = timeline.ms()  # when this consumer last became idle
    while not finished:
        # Wait for the pool to post: sleeps in Atomics.wait while the counter is 0 (woken by
        # Atomics.notify). The value can dip below 0 for an instant when a job is taken before
        # the pool's add lands; that is "nothing pending" too.
        while (count := Atomics.load(pending, 0)) <= 0:
            Atomics.wait(pending, 0, count)
        while (entry := receive_message_on_port(jobs)) is not None:
            message = entry.message
            if message["type"] == "data":
                now = timeline.ms()
                # Time the job waited while this consumer was idle: the wake-up latency. A job
                # posted while the consumer was busy with an earlier one waited for that, too.
                latency = now - max(message["posted_ms"], free_since)
                queued = free_since - message["posted_ms"]
                note = f" (queued {queued:.0f} ms behind the previous item)" if queued > 0 else ""
                timeline.log(f"starts item {message['data']}, {latency:.2f} ms after it was "
                             f"posted{note}")
                data["latencies"].append(latency)
                spin(data["work"])  # expensive computation (the article: 1 s)
                jobs.post_message({"type": "data", "data": message["data"]})
                free_since = timeline.ms()
            elif message["type"] == "end":
                finished = True  # end of data reached
            Atomics.sub(pending, 0, 1)  # one job less pending
    jobs.close()


# --- the pool (the article's refactored Pool class) -----------------------------------------------


@dataclass
class _Consumer:
    worker: Worker
    pending: SharedArray  # the shared pending-job counter
    pool_channel: MessagePort  # the pool's end of the job channel


class AtomicsPool:
    """The article's Pool: round-robin over consumers woken through shared counters."""

    def __init__(self, target: Callable[[], None], size: int, port: MessagePort,
                 work: int, latencies: list[float]) -> None:
        self.port = port
        consumers = []
        for i in range(size):
            pool_channel, job_channel = MessageChannel()
            # Create the shared buffer for the worker: Int32Array(new SharedArrayBuffer(4))
            pending = SharedArray("i", SharedBuffer(4))
            pending[0] = 0  # initialize the atomic counter
            worker = Worker(target, name=f"consumer-{i}",
                            data={"pending": pending, "jobs": job_channel, "work": work,
                                  "latencies": latencies})
            consumers.append(_Consumer(worker, pending, pool_channel))
        self.all = tuple(consumers)
        # Round-robin order. Only the port's listener thread dispatches, so it needs no lock.
        self.consumers = collections.deque(consumers)

    def start(self) -> None:
        """Listen for messages on the port and distribute them to the workers."""
        self.port.on("message", self._dispatch)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "data":
            self.post_message(message)
        elif message["type"] == "end":
            self.broadcast(message)

    def _post(self, consumer: _Consumer, message: dict[str, Any]) -> None:
        consumer.pool_channel.post_message({**message, "posted_ms": timeline.ms()})
        # Increment the atomic counter and notify the worker.
        Atomics.add(consumer.pending, 0, 1)
        Atomics.notify(consumer.pending, 0)

    def post_message(self, message: dict[str, Any]) -> None:
        """Round-robin: the next consumer gets the job."""
        consumer = self.consumers.popleft()
        timeline.log(f"pool posts item {message['data']} to {consumer.worker.name}")
        self._post(consumer, message)
        self.consumers.append(consumer)

    def on(self, event: str, callback: Callable[..., object]) -> None:
        """Register a callback on every consumer's channel."""
        for consumer in self.all:
            consumer.pool_channel.on(event, callback)

    def broadcast(self, message: dict[str, Any]) -> None:
        """Post to every consumer (and wake it: it sleeps until its counter moves)."""
        for consumer in self.all:
            self._post(consumer, message)

    def join(self) -> bool:
        """Wait for every consumer to exit and its results to be delivered; True if all ended
        well."""
        ok = all(consumer.worker.join() == 0 for consumer in self.all)
        for consumer in self.all:
            consumer.pool_channel.wait_closed()
        return ok


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code."""
    global timeline
    parser = demo_parser("atomics-pool", __doc__ or "")
    parser.add_argument("--consumers", type=int, default=DEFAULT_CONSUMERS,
                        help=f"consumers in the pool (default {DEFAULT_CONSUMERS})")
    args = parser.parse_args(argv)
    if args.consumers < 1:
        parser.error(f"--consumers must be >= 1, got {args.consumers}")
    produce = iterations_for(PRODUCE_SECONDS * args.scale)
    consume = iterations_for(CONSUME_SECONDS * args.scale)
    timeline = Timeline()
    latencies: list[float] = []  # consumers append from their threads (list.append is atomic)

    channel = MessageChannel()
    producer = Worker(producer_main, data={"port": channel.port1, "work": produce},
                      name="producer")
    pool = AtomicsPool(consumer_main, args.consumers, channel.port2, consume, latencies)
    pool.on("message", lambda message: timeline.log("Consumed:", message["data"]))
    pool.start()
    timeline.log(f"main thread is free; {args.consumers} consumers sleep in Atomics.wait")

    ok = producer.join() == 0
    ok = pool.join() and ok
    channel.port2.close()
    channel.port2.wait_closed()
    if len(latencies) != ITEMS:
        timeline.log(f"ERROR: {len(latencies)} of {ITEMS} items were started")
        return 1
    timeline.log(
        f"an idle consumer started each item {statistics.median(latencies):.2f} ms (median), "
        f"at most {max(latencies):.2f} ms after it was posted; polling every "
        f"{POLL_SECONDS:.0f} s, as the article's first consumer does, adds up to "
        f"{POLL_SECONDS * 1e3:.0f} ms"
    )
    return 0 if ok else 1
