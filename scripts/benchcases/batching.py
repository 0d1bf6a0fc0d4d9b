"""Batched messaging: Channel.send_many/receive_many against SimpleQueue item by item, and the
seed's producer-consumer pipeline at full speed with and without batches.

Each case runs ftpool and its peer in the same call, so the ratio compares numbers measured at
the same moment on the same (noisy, shared) machine.
"""

from __future__ import annotations

import queue

from benchlib import Case, timed_pair

import ftpool
from ftpool.demos.producer_consumer import pump

BATCH = 64
_END = object()


def _channel_batches(quick: bool) -> dict[str, float]:
    n = 64_000 if quick else 640_000
    chunks = [list(range(i, i + BATCH)) for i in range(0, n, BATCH)]  # built before timing

    results: dict[str, float] = {}
    for label, capacity in (("ftpool Channel batches", 0), ("ftpool Channel(1024) batches", 1024)):
        channel: ftpool.Channel[int] = ftpool.Channel(capacity)

        def producer(channel: ftpool.Channel[int] = channel) -> None:
            send_many = channel.send_many
            for chunk in chunks:
                send_many(chunk)
            channel.close()

        def consumer(channel: ftpool.Channel[int] = channel) -> None:
            receive_many = channel.receive_many
            count = 0
            try:
                while True:
                    count += len(receive_many(BATCH))
            except ftpool.EndOfChannel:
                pass
            assert count == n

        results[label] = n / timed_pair(producer, consumer)

    simple: queue.SimpleQueue[object] = queue.SimpleQueue()

    def simple_producer() -> None:
        put = simple.put
        for chunk in chunks:
            for item in chunk:
                put(item)
        put(_END)

    def simple_consumer() -> None:
        get = simple.get
        count = 0
        while get() is not _END:
            count += 1
        assert count == n

    results["SimpleQueue one by one"] = n / timed_pair(simple_producer, simple_consumer)
    return results


def _pipeline(quick: bool) -> dict[str, float]:
    n = 100_000 if quick else 1_000_000
    return {
        "one by one": pump(n, 1),
        f"batches of {BATCH}": pump(n, BATCH),
    }


CASES = [
    Case(
        name="channel.batch",
        description=f"1 producer thread -> 1 consumer, send_many / receive_many in batches of "
        f"{BATCH} (unbounded and Channel(1024)) vs SimpleQueue put / get one by one, items/s",
        run=_channel_batches,
        unit="items/s",
        higher_is_better=True,
        ratios=[
            ("ftpool Channel batches", "SimpleQueue one by one"),
            ("ftpool Channel(1024) batches", "SimpleQueue one by one"),
        ],
        target="ftpool Channel batches / SimpleQueue one by one >= 1.0",
    ),
    Case(
        name="pipeline.producer_consumer",
        description="the seed's producer -> consumer pipeline at full speed: two Workers, one "
        f"MessageChannel, 1 M small messages, post_message / for-in vs post_messages / "
        f"receive_many({BATCH}) (python -m ftpool demo producer-consumer --batch {BATCH}), "
        "messages/s",
        run=_pipeline,
        unit="msg/s",
        higher_is_better=True,
        ratios=[(f"batches of {BATCH}", "one by one")],
        repeats=3,
    ),
]
