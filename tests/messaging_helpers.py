"""Helpers for the messaging tests (not a test module)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import ftpool


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true, e.g. until N threads are blocked in a channel.

    A test must observe another thread's state ("it is now blocked in receive()"), which no event
    announces; it checks every millisecond. This is test scaffolding, not how ftpool waits.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout} s")
        time.sleep(0.001)


def blocked_receivers(channel: ftpool.Channel[Any], count: int) -> Callable[[], bool]:
    return lambda: channel.stats().waiting_receivers >= count


def blocked_senders(channel: ftpool.Channel[Any], count: int) -> Callable[[], bool]:
    return lambda: channel.stats().waiting_senders >= count


class Runner:
    """Starts threads that record their result or exception; ``join()`` joins them all."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.results: dict[str, Any] = {}
        self.errors: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    def start(self, name: str, fn: Callable[[], Any]) -> threading.Thread:
        def run() -> None:
            try:
                value = fn()
            except BaseException as exc:
                with self._lock:
                    self.errors[name] = exc
            else:
                with self._lock:
                    self.results[name] = value

        thread = threading.Thread(target=run, name=name)
        self.threads.append(thread)
        thread.start()
        return thread

    def join(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self.threads if t.is_alive()]
        assert not alive, f"threads still running: {alive}"


@contextmanager
def runner() -> Iterator[Runner]:
    r = Runner()
    try:
        yield r
    finally:
        r.join()


@contextmanager
def captured_excepthook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    """Collect what ftpool reports through threading.excepthook instead of failing the test."""
    seen: list[BaseException] = []
    lock = threading.Lock()

    def hook(args: threading.ExceptHookArgs) -> None:
        with lock:
            assert args.exc_value is not None
            seen.append(args.exc_value)

    monkeypatch.setattr(threading, "excepthook", hook)
    yield seen
