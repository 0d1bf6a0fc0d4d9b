"""The article's "Producer-Consumer Pattern": two workers, the main thread relays the messages.

The producer makes 5 items, 1.5 s of CPU work each; the consumer computes on each for 1 s; times
are multiplied by ``--scale``. The main thread relays every item from the producer to the
consumer in its ``"message"`` listener, as in the article. One difference: the article's consumer
polls its queue every second; here it blocks in ``for message in parent_port()`` and wakes the
moment an item arrives. Watch the consumer work on item i while the producer makes item i+1.
"""

from __future__ import annotations

from typing import Any

import ftpool

from ._timeline import Timeline, iterations_for, parse_scale, spin

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


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code."""
    global timeline
    scale = parse_scale(argv, "producer-consumer", __doc__ or "")
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
