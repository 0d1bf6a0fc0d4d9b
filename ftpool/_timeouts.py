"""The one place where ftpool reads a ``timeout=`` argument (every blocking call uses it).

Rules, the same for every call that takes a timeout:

* ``None`` and ``math.inf`` wait forever. So does any finite value too large for the platform's
  lock timeout (``threading.TIMEOUT_MAX``, about 292 years here): it could never expire.
* A number of seconds ``>= 0`` (``int`` or ``float``) waits that long; ``0`` means "try once".
* A negative number or NaN raises ``ValueError``; anything that is not an ``int`` or ``float``
  (``bool`` included: ``True`` is not one second) raises ``TypeError``. Both messages name the call.

Expiry raises the builtin ``TimeoutError`` from calls that wait *for something to happen* (a
message, a result, a free slot); calls that wait for a state and can report it return a value
instead (``Worker.join`` returns ``None``, ``wait_closed`` returns ``False``, ``Atomics.wait``
returns ``"timed-out"``), as their Node.js and ``threading`` counterparts do.
"""

from __future__ import annotations

import math
import threading
import time

__all__ = ["check_timeout", "deadline", "remaining", "timed_out"]

_TIMEOUT_MAX = threading.TIMEOUT_MAX
_monotonic = time.monotonic


def check_timeout(timeout: object, where: str) -> float | None:
    """Validate ``timeout`` for the call named ``where`` and return it as seconds.

    Returns ``None`` for "forever" (``None``, ``math.inf``, or a value too large to ever expire),
    otherwise a float ``>= 0``. Raises ``TypeError`` for a non-number (or a ``bool``) and
    ``ValueError`` for a negative number or NaN; nothing else is done before the check, so a
    rejected call changes nothing.
    """
    if timeout is None:
        return None
    cls = timeout.__class__
    if (cls is not float and cls is not int) and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float)
    ):
        raise TypeError(
            f"{where}: timeout must be a number of seconds (int or float), or None (or "
            f"math.inf) to wait forever; got {type(timeout).__name__} {timeout!r}"
        )
    seconds = float(timeout)  # type: ignore[arg-type]  # an int or float, checked above
    if not seconds >= 0:  # also rejects NaN
        raise ValueError(
            f"{where}: timeout must be a number of seconds >= 0, or None (or math.inf) to wait "
            f"forever; got {timeout!r}"
        )
    if seconds >= _TIMEOUT_MAX or math.isinf(seconds):
        return None
    return seconds


def deadline(timeout: float | None) -> float | None:
    """The ``time.monotonic()`` instant a checked ``timeout`` expires at (None: never)."""
    return None if timeout is None else _monotonic() + timeout


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (never negative; None: no deadline)."""
    if deadline is None:
        return None
    return max(0.0, deadline - _monotonic())


def timed_out(where: str, timeout: float | None) -> TimeoutError:
    """The ``TimeoutError`` a call raises when its ``timeout`` expires."""
    return TimeoutError(f"{where} timed out after {timeout} s; retry, or use a longer timeout")
