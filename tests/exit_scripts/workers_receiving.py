"""Exit while Workers wait in receive() on their parent port (for work that never comes), one in
`for msg in parent_port()` and one in a bare receive(), plus one with messages still queued."""

import atexit
import threading

import ftpool

got: list[object] = []
lock = threading.Lock()


def loop() -> None:
    port = ftpool.parent_port()
    assert port is not None
    for message in port:
        with lock:
            got.append(message)


def bare() -> None:
    port = ftpool.parent_port()
    assert port is not None
    while True:
        message = port.receive()
        with lock:
            got.append(message)


workers = [ftpool.Worker(loop), ftpool.Worker(bare), ftpool.Worker(loop)]
for i in range(100):
    workers[2].post_message(i)  # queued for it as main returns
codes: list[int] = []
for worker in workers:
    worker.on("exit", codes.append)


def report() -> None:
    print("exit codes", sorted(codes), "received", len(got),
          "errors", [w.exception for w in workers])


atexit.register(report)
print("main returns")
