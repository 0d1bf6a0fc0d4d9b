"""The article's "Producer-Consumer Pattern": two workers, the main thread relays the messages.

The producer makes 5 items, 1.5 s of CPU work each; the consumer computes on each for 1 s; times
are multiplied by ``--scale``. The main thread relays every item from the producer to the
consumer in its ``"message"`` listener, as in the article. One difference: the article's consumer
polls its queue every second; here it blocks in ``for message in parent_port()`` and wakes the
moment an item arrives. Watch the consumer work on item i while the producer makes item i+1.

``--batch N`` runs the same pipeline at full speed instead: a producer Worker moves ``--messages``
small messages (default 1 000 000) to a consumer Worker through a MessageChannel, once one by one
(``post_message``/``for msg in port``) and once in batches of N (``post_messages``/
``receive_many(N)``), and prints the messages per second of each.
"""

from __future__ import annotations

import time
from typing import Any

import ftpool

from ._timeline import Timeline, demo_parser, iterations_for, spin

ITEMS = 5
PRODUCE_SECONDS = 1.5
CONSUME_SECONDS = 1.0

timeline = Timeline()


def producer_main() -> None:
    port = ftpool.parent_port()
    assert port is not None
    work = ftpool.worker_data()["work"]
    for i in range(ITEMS):
        spin(work)  # simulate heavy work (the article: 1.5 s)
        timeline.log(f"producer made item {i}")
        port.post_message({"type": "data", "data": str(i)})
    port.post_message({"type": "end"})


def expensive_computation(data: str, work: int) -> str:
    spin(work)  # simulate heavy work (the article: 1 s)
    return data


def consumer_main() -> None:
    port = ftpool.parent_port()
    assert port is not None
    work = ftpool.worker_data()["work"]
    for message in port:  # blocks until a message arrives: no polling
        if message["type"] == "end":
            break
        timeline.log(f"consumer got item {message['data']}")
        result = expensive_computation(message["data"], work)
        port.post_message({"type": "data", "data": result})


def _pump_producer() -> None:
    data = ftpool.worker_data()
    port: ftpool.MessagePort = data["port"]
    count: int = data["messages"]
    batch: int = data["batch"]
    if batch == 1:
        post = port.post_message
        for i in range(count):
            post(i)
    else:
        post_many = port.post_messages
        for start in range(0, count, batch):
            post_many(range(start, min(count, start + batch)))
    port.close()  # the consumer receives everything, then EndOfChannel


def _pump_consumer() -> None:
    data = ftpool.worker_data()
    port: ftpool.MessagePort = data["port"]
    batch: int = data["batch"]
    received = 0
    if batch == 1:
        for _ in port:
            received += 1
    else:
        receive_many = port.receive_many
        while True:
            try:
                received += len(receive_many(batch))
            except ftpool.EndOfChannel:
                break
    parent = ftpool.parent_port()
    assert parent is not None
    parent.post_message(received)


def pump(messages: int, batch: int) -> float:
    """Move ``messages`` small messages producer -> consumer (two Workers, one MessageChannel),
    ``batch`` at a time (1: one by one); returns the messages per second."""
    producer_end, consumer_end = ftpool.MessageChannel("pump")
    started = time.perf_counter()
    consumer = ftpool.Worker(
        _pump_consumer, data={"port": consumer_end, "batch": batch}, name="pump-consumer"
    )
    producer = ftpool.Worker(
        _pump_producer,
        data={"port": producer_end, "messages": messages, "batch": batch},
        name="pump-producer",
    )
    received = consumer.receive()
    elapsed = time.perf_counter() - started
    if (producer.join(), consumer.join()) != (0, 0) or received != messages:
        raise RuntimeError(f"the pipeline lost messages: {received} of {messages} arrived")
    return messages / elapsed


def _full_speed(messages: int, batch: int) -> int:
    print(f"moving {messages:,} small messages producer -> consumer (two Workers, one "
          f"MessageChannel)")
    one = pump(messages, 1)
    print(f"  one by one (post_message / for msg in port): {one:12,.0f} messages/s")
    many = pump(messages, batch)
    print(f"  in batches of {batch} (post_messages / receive_many): {many:12,.0f} messages/s "
          f"({many / one:.1f}x)")
    return 0


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code."""
    global timeline
    parser = demo_parser("producer-consumer", __doc__ or "")
    parser.add_argument("--batch", type=int, default=None, metavar="N",
                        help="move --messages small messages at full speed, one by one and in "
                        "batches of N, and print messages per second")
    parser.add_argument("--messages", type=int, default=1_000_000, metavar="M",
                        help="how many messages --batch moves (default 1000000)")
    args = parser.parse_args(argv)
    if args.batch is not None:
        if args.batch < 1 or args.messages < 1:
            parser.error("--batch and --messages must be at least 1")
        return _full_speed(args.messages, args.batch)
    scale = args.scale
    produce = iterations_for(PRODUCE_SECONDS * scale)
    consume = iterations_for(CONSUME_SECONDS * scale)
    timeline = Timeline()

    producer = ftpool.Worker(producer_main, data={"work": produce}, name="producer")
    consumer = ftpool.Worker(consumer_main, data={"work": consume}, name="consumer")

    def relay(message: dict[str, Any]) -> None:  # producer sends data to consumer
        if message["type"] == "data":
            timeline.log("Produced:", message["data"])
            consumer.post_message({"type": "data", "data": message["data"]})
        if message["type"] == "end":
            consumer.post_message({"type": "end"})

    producer.on("message", relay)
    consumer.on("message", lambda message: timeline.log("Consumed:", message["data"]))
    producer.on("exit", lambda code: timeline.log("Producer exited"))
    consumer.on("exit", lambda code: timeline.log("Consumer exited"))
    timeline.log("Main thread is free while the workers run")

    codes = (producer.join(), consumer.join())
    cpu = ITEMS * (PRODUCE_SECONDS + CONSUME_SECONDS) * scale * 1e3
    timeline.log(f"Main process exited (the work adds up to ~{cpu:.0f} ms on one core)")
    return 0 if codes == (0, 0) else 1
