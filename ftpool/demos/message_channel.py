"""The article's "Message Channel Pattern": producer and consumer talk directly through ports.

The main thread creates a :class:`~ftpool.MessageChannel` and hands ``port1`` to the producer and
``port2`` to the consumer through ``data=`` (handing a port over is the transfer: threads share
memory). The main thread no longer relays anything; it only hears the consumer's results. Same
work as ``producer-consumer``: 5 items, 1.5 s to produce and 1 s to consume each, times
``--scale``; the consumer blocks in ``for message in port`` instead of polling every second.
"""

from __future__ import annotations

import ftpool

from ._timeline import Timeline, iterations_for, parse_scale, spin

ITEMS = 5
PRODUCE_SECONDS = 1.5
CONSUME_SECONDS = 1.0

timeline = Timeline()


def producer_main() -> None:
    data = ftpool.worker_data()
    port: ftpool.MessagePort = data["port"]
    for i in range(ITEMS):
        spin(data["work"])  # simulate heavy work (the article: 1.5 s)
        timeline.log(f"producer posts item {i} on its port")
        port.post_message({"type": "data", "data": str(i)})
    port.post_message({"type": "end"})  # send end message to the given port


def consumer_main() -> None:
    data = ftpool.worker_data()
    port: ftpool.MessagePort = data["port"]
    parent = ftpool.parent_port()
    assert parent is not None
    for message in port:  # blocks until the producer posts: no polling
        if message["type"] == "end":
            break
        timeline.log(f"consumer got item {message['data']} from its port")
        spin(data["work"])  # expensive computation (the article: 1 s)
        parent.post_message({"type": "data", "data": message["data"]})
    port.close()


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code."""
    global timeline
    scale = parse_scale(argv, "message-channel", __doc__ or "")
    produce = iterations_for(PRODUCE_SECONDS * scale)
    consume = iterations_for(CONSUME_SECONDS * scale)
    timeline = Timeline()

    channel = ftpool.MessageChannel()
    producer = ftpool.Worker(
        producer_main, data={"port": channel.port1, "work": produce}, name="producer"
    )
    consumer = ftpool.Worker(
        consumer_main, data={"port": channel.port2, "work": consume}, name="consumer"
    )
    consumer.on("message", lambda message: timeline.log("Consumed:", message["data"]))
    producer.on("exit", lambda code: timeline.log("Producer exited"))
    consumer.on("exit", lambda code: timeline.log("Consumer exited"))
    timeline.log("Main thread is free: the workers talk directly through the channel")

    codes = (producer.join(), consumer.join())
    cpu = ITEMS * (PRODUCE_SECONDS + CONSUME_SECONDS) * scale * 1e3
    timeline.log(f"Main process exited (the work adds up to ~{cpu:.0f} ms on one core)")
    return 0 if codes == (0, 0) else 1
