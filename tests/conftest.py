"""Session-wide guards: no test leaks a thread, and under 3.13t the GIL stays off.

Test files are named by the thing they test, thing first, then the aspect:
``test_<thing>[_<aspect>].py`` (``test_pool_close.py``, ``test_broadcast_channel.py`` for
BroadcastChannel, ``test_pool_broadcast.py`` for Pool.broadcast, ``test_messaging_bad_input.py``).

- ``no_thread_leak`` (autouse): every thread a test starts must be finished when the test ends.
  Threads that are already ending get a short grace period (joined, not polled); a thread still
  alive after it fails the test with the thread's name.
- ``pytest_sessionfinish``: on a free-threaded build the run fails when the GIL is on at the end
  (something imported an extension that switched it on and ``PYTHON_GIL=0`` was not set), unless
  ``FTPOOL_ALLOW_GIL=1`` says that this run is the "GIL forced on" configuration on purpose. It
  also fails the run when a thread is still alive at the end (a session-level leak check, which
  also covers what runs outside the tests: fixtures, collection).
- Under pytest-run-parallel (``nox -s tests_parallel``: every test body runs on several threads at
  once) the per-test leak check still applies: the plugin joins its threads inside the call, so
  whatever is left belongs to the test. Tests marked ``single_thread`` (process-wide state: thread
  counts, the GIL, ``threading.excepthook``) are run on one thread (the plugin's
  ``thread_unsafe``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import ftpool
from ftpool._runtime import free_threaded_build, gil_enabled

LEAK_GRACE_SECONDS = 2.0


def pytest_report_header(config: pytest.Config) -> list[str]:
    info = ftpool.runtime()
    return [
        f"ftpool runtime: python {info.python_version}, free_threaded_build="
        f"{info.free_threaded_build}, gil_enabled={info.gil_enabled}, cores={info.cores}, "
        f"PYTHON_GIL={os.environ.get('PYTHON_GIL', '(unset)')}"
    ]


def _is_harness_thread(thread: threading.Thread) -> bool:
    # pytest-timeout's thread method arms a threading.Timer per test and cancels it afterwards.
    return isinstance(thread, threading.Timer)


@pytest.fixture(autouse=True)
def no_thread_leak(request: pytest.FixtureRequest) -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + LEAK_GRACE_SECONDS
    leaked = []
    for thread in threading.enumerate():
        if thread in before or _is_harness_thread(thread):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            leaked.append(thread.name)
    if leaked:
        pytest.fail(f"{request.node.nodeid} leaked threads still running: {sorted(leaked)}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # pytest-run-parallel registers "thread_unsafe"; without the plugin there is nothing to map
    if not any(line.startswith("thread_unsafe") for line in config.getini("markers")):
        return
    for item in items:
        if item.get_closest_marker("single_thread") is not None:
            item.add_marker(pytest.mark.thread_unsafe(reason="marked single_thread"))


def _alive_threads(grace: float) -> list[str]:
    deadline = time.monotonic() + grace
    alive = []
    for thread in threading.enumerate():
        if thread is threading.main_thread() or _is_harness_thread(thread):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            alive.append(thread.name)
    return sorted(alive)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaked = _alive_threads(LEAK_GRACE_SECONDS)
    if leaked:
        sys.stderr.write(f"\nFAILED: threads still running at the end of the session: {leaked}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if not free_threaded_build() or os.environ.get("FTPOOL_ALLOW_GIL") == "1":
        return
    if gil_enabled():
        sys.stderr.write(
            "\nFAILED: the GIL was switched on during the test session on a free-threaded build; "
            "run with PYTHON_GIL=0 (nox -s tests does) and find the import that did it\n"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        sys.stderr.write("\nftpool: the GIL stayed off for the whole test session\n")
