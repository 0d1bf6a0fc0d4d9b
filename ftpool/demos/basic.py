"""The article's "Basic Usage": a worker counts while the main thread stays free.

The main thread starts a :class:`~ftpool.Worker` with ``data={"count_to": n}`` and listens for its
message; the worker reads :func:`~ftpool.worker_data`, counts, and posts ``"done"`` through
:func:`~ftpool.parent_port`. The main thread prints that it can still do other work long before
the worker is done. ``--scale`` sizes the count (1 = about one second of counting).
"""

from __future__ import annotations

import ftpool

from ._timeline import Timeline, iterations_for, parse_scale, spin

COUNT_SECONDS = 1.0  # how long the count takes at --scale 1

timeline = Timeline()


def worker_main() -> None:
    data = ftpool.worker_data()
    timeline.log("Worker thread is running with", data)
    count_to = data["count_to"]
    timeline.log("Worker thread will count to:", count_to)
    spin(count_to)
    port = ftpool.parent_port()
    assert port is not None
    port.post_message("done")


def main(argv: list[str]) -> int:
    """Run the demo; returns the exit code."""
    global timeline
    scale = parse_scale(argv, "basic", __doc__ or "")
    count_to = iterations_for(COUNT_SECONDS * scale)
    timeline = Timeline()
    worker = ftpool.Worker(worker_main, data={"count_to": count_to}, name="worker")
    worker.on("message", lambda message: timeline.log("Message from worker:", message))
    timeline.log("Main thread can still do other work")
    code = worker.join()
    timeline.log(f"Worker exited with code {code}; is_main_thread() = {ftpool.is_main_thread()}")
    return 0 if code == 0 else 1
