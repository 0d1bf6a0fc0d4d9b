"""ftpool: worker threads, channels, shared-memory atomics and a Piscina-style pool for
free-threaded Python (3.13t), where threads run in parallel.

The public API is documented in README.md and in each name's docstring. ``import ftpool`` never
imports the ``atomics`` package (which would switch the GIL back on under 3.13t); the first use of
shared-memory atomics does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._atomics import AtomicCounter, Atomics
from ._channel import Channel, ChannelStats, select
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
    PeerClosedError,
    QueueFull,
    Terminated,
    WouldBlock,
)
from ._pool import (
    Pool,
    PoolBrokenError,
    PoolClosedError,
    PoolFuture,
    PoolStats,
    TimingSummary,
    UnknownHandlerError,
)
from ._port import (
    BroadcastChannel,
    Message,
    MessageChannel,
    MessagePort,
    receive_message_on_port,
)
from ._runtime import Finding, GILEnabledWarning, RuntimeInfo, runtime
from ._shared import SharedArray, SharedBuffer
from ._worker import Worker

if TYPE_CHECKING:
    from ._doctor import DoctorReport, Measurement, doctor

_LAZY = {"DoctorReport", "Measurement", "doctor"}  # the scaling doctor loads on first use


def __getattr__(name: str) -> Any:
    """Load the scaling doctor (``ftpool.doctor`` and its report types) on first use, so that
    ``import ftpool`` does not pay for it."""
    if name in _LAZY:
        from . import _doctor  # noqa: PLC0415

        value = getattr(_doctor, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ftpool' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "AtomicCounter",
    "Atomics",
    "BroadcastChannel",
    "BrokenPool",
    "CancelToken",
    "Cancelled",
    "Channel",
    "ChannelStats",
    "ClosedError",
    "DoctorReport",
    "EndOfChannel",
    "Finding",
    "FtpoolError",
    "GILEnabledWarning",
    "Measurement",
    "Message",
    "MessageChannel",
    "MessagePort",
    "PeerClosedError",
    "Pool",
    "PoolBrokenError",
    "PoolClosedError",
    "PoolFuture",
    "PoolStats",
    "QueueFull",
    "RuntimeInfo",
    "SharedArray",
    "SharedBuffer",
    "Terminated",
    "TimingSummary",
    "UnknownHandlerError",
    "Worker",
    "WouldBlock",
    "__version__",
    "check_cancelled",
    "doctor",
    "is_main_thread",
    "parent_port",
    "receive_message_on_port",
    "runtime",
    "select",
    "thread_id",
    "worker_data",
]
