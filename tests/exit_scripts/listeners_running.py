"""Exit while listener threads still deliver: a Worker posts a burst and returns; the creator's
"message" listener is behind. Every message is delivered before the process exits."""

import atexit

import ftpool

heard: list[int] = []


def burst(n: int) -> None:
    port = ftpool.parent_port()
    assert port is not None
    for i in range(n):
        port.post_message(i)


worker = ftpool.Worker(burst, 20_000)
worker.on("message", heard.append)
exits: list[int] = []
worker.on("exit", exits.append)
a, b = ftpool.MessageChannel()
b.on("message", heard.append)
for i in range(1000):
    a.post_message(-i - 1)
a.close()  # closed with messages still queued for b's listener


def report() -> None:
    print("heard", len(heard), "exit", exits)


atexit.register(report)
print("main returns")
