"""ftpool: worker threads, channels, shared-memory atomics and a Piscina-style pool for
free-threaded Python (3.13t), where threads run in parallel.

The public API is documented in README.md and in each name's docstring. ``import ftpool`` never
imports the ``atomics`` package (which would switch the GIL back on under 3.13t); the first use of
shared-memory atomics does.
"""

from __future__ import annotations

from ._context import (
    CancelToken,
    check_cancelled,
    is_main_thread,
    parent_port,
    thread_id,
    worker_data,
)
from ._errors import (
    BrokenPool,
    Cancelled,
    ClosedError,
    EndOfChannel,
    FtpoolError,
    QueueFull,
    Terminated,
    WouldBlock,
)
from ._runtime import GILEnabledWarning, RuntimeInfo, runtime

# --- messaging (issue 3) ---
from ._channel import Channel, ChannelStats, select
from ._port import (
    BroadcastChannel,
    Message,
    MessageChannel,
    MessagePort,
    receive_message_on_port,
)
from ._worker import Worker

# --- end messaging ---
# --- shared memory and atomics (issue 4) ---
from ._atomics import AtomicCounter, Atomics
from ._shared import SharedArray, SharedBuffer
# --- end shared memory ---
# --- pool (issue 5) ---
from ._pool import Pool, UnknownHandlerError
from ._pool_task import PoolFuture
from ._poolstats import PoolStats, TimingSummary

# --- end pool ---

__version__ = "0.1.0"

__all__ = [
    "BrokenPool",
    "CancelToken",
    "Cancelled",
    "ClosedError",
    "EndOfChannel",
    "FtpoolError",
    "GILEnabledWarning",
    "QueueFull",
    "RuntimeInfo",
    "Terminated",
    "WouldBlock",
    "__version__",
    "check_cancelled",
    "is_main_thread",
    "parent_port",
    "runtime",
    "thread_id",
    "worker_data",
    # messaging (issue 3)
    "BroadcastChannel",
    "Channel",
    "ChannelStats",
    "Message",
    "MessageChannel",
    "MessagePort",
    "Worker",
    "receive_message_on_port",
    "select",
    # shared memory (issue 4)
    "AtomicCounter",
    "Atomics",
    "SharedArray",
    "SharedBuffer",
    # pool (issue 5)
    "Pool",
    "PoolFuture",
    "PoolStats",
    "TimingSummary",
    "UnknownHandlerError",
]
