"""Runnable versions of the seed article's scenarios: ``python -m ftpool demo NAME``.

Each demo module has a ``main(argv: list[str]) -> int``. :data:`DEMOS` maps the command-line name
to the module and a one-line description; ``python -m ftpool demo --list`` prints it.
"""

from __future__ import annotations

DEMOS: dict[str, tuple[str, str]] = {
    # name: (module under ftpool.demos, what it shows)
    # messaging
    "basic": ("basic", "a Worker counts while the main thread stays free (Basic Usage)"),
    "producer-consumer": (
        "producer_consumer",
        "producer and consumer Workers, the main thread relays the items",
    ),
    "message-channel": (
        "message_channel",
        "producer and consumer Workers talk directly through a MessageChannel",
    ),
    # shared memory and atomics
    "atomic-counter": (
        "atomic_counter",
        "the article's Atomics load/add/sub, then threads adding to one counter, exact total",
    ),
    "atomics-pool": (
        "atomics_pool",
        "the article's pool of consumers woken by Atomics.wait/notify instead of 1 s polling",
    ),
    # the pool
    "pool": ("pool", "the article's 5-consumer pool: round-robin dealing, 'end' broadcast"),
    "piscina": ("piscina", "Pool.run, named handlers, cancellation, timeouts, map and stats"),
    # asyncio
    "asyncio": (
        "asyncio_server",
        "an asyncio loop keeps ticking while a Pool computes (awaited), against inline work",
    ),
}
