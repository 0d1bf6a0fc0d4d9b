"""What the messaging demos share: the article's ``timeOfExecution()`` log, CPU work sized in
seconds, and the ``--scale`` option.

Every line is ``<ms since start>ms  <thread>  <text>``, printed whole under a lock, so the reader
sees which thread did what, and when. The simulated work is a counting loop, like the article's busy
``while`` loop, but sized once by calibration and then fixed: under the GIL two such loops share one
core and visibly take longer, whereas a clock-watching loop would hide that.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any, TextIO

DEFAULT_SCALE = 0.3  # the article's 1.5 s and 1 s become 0.45 s and 0.3 s


class Timeline:
    """Prints ``<ms since start> <thread> <text>`` lines, one at a time."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._start = time.perf_counter()
        self._lock = threading.Lock()  # one line at a time
        self._out = out if out is not None else sys.stdout

    def ms(self) -> float:
        """Milliseconds since the timeline started."""
        return (time.perf_counter() - self._start) * 1e3

    def log(self, *parts: object) -> None:
        """Print one line stamped with the time and the calling thread's name."""
        name = threading.current_thread().name
        label = "main" if name == "MainThread" else name
        text = " ".join(str(part) for part in parts)
        with self._lock:
            print(f"{self.ms():9.2f}ms  {label:<26} {text}", file=self._out, flush=True)


_rate_lock = threading.Lock()  # guards _rate
_rate: float | None = None  # loop iterations per second, measured once


def iterations_for(seconds: float) -> int:
    """How many iterations of :func:`spin` take ``seconds`` on one free core (calibrated once)."""
    global _rate
    with _rate_lock:
        if _rate is None:
            probe = 200_000
            started = time.perf_counter()
            spin(probe)
            _rate = probe / max(time.perf_counter() - started, 1e-6)
        return max(0, int(seconds * _rate))


def spin(iterations: int) -> int:
    """Busy CPU work: count to ``iterations`` (the article's ``for (let i = 0; i < n; i++) {}``)."""
    count = 0
    for _ in range(iterations):
        count += 1
    return count


class _DemoParser(argparse.ArgumentParser):
    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed = super().parse_args(args, namespace)
        if not parsed.scale > 0:
            self.error(f"--scale must be > 0, got {parsed.scale}")
        return parsed


def demo_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The command line every demo shares: ``[--scale S]``; a demo may add its own options."""
    parser = _DemoParser(
        prog=f"python -m ftpool demo {prog}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=DEFAULT_SCALE,
        help=f"multiply the article's times by S (default {DEFAULT_SCALE}; 1 = the article's)",
    )
    return parser


def parse_scale(argv: list[str], prog: str, description: str) -> float:
    """Parse ``[--scale S]``; exits with a usage message on bad input."""
    scale: float = demo_parser(prog, description).parse_args(argv).scale
    return scale
