"""CPython's own executor tests, run against ``ftpool.Pool``.

The ``test.test_concurrent_futures`` package that ships with the interpreter tests every executor
through mixins: ``ExecutorTest``, ``WaitTests``, ``AsCompletedTests`` and ``ExecutorShutdownTest``
with ``executor_type`` set by a mixin (``ThreadPoolMixin`` for ``ThreadPoolExecutor``). Here the
mixin is :class:`PoolMixin` (``executor_type = Pool``), and the thread-pool classes themselves are
subclassed, so their extra tests run too.

Changes, each named below:

* Subprocess tests that import the executor by name from ``concurrent.futures`` (or name
  ``ThreadPoolExecutor`` in their script) are restated with ``from ftpool import Pool``. One
  assertion differs: a traceback names ``PoolClosedError`` (a ``RuntimeError`` subclass, caught by
  ``except RuntimeError``) where ``ThreadPoolExecutor``'s says ``RuntimeError``.
* Tests that read ``ThreadPoolExecutor``'s private attributes (``_threads``, ``_max_workers``) are
  skipped by name in :data:`PRIVATE_ATTRIBUTE_TESTS`, with the reason; where the behaviour they
  check has a public form, a restated test checks it through public means (thread names, stats).
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing as mp
import os
import re
import threading
import unittest
import warnings

import pytest

import ftpool
from ftpool import Pool

if importlib.util.find_spec("test.test_concurrent_futures") is None:  # pragma: no cover
    pytest.skip(
        "this interpreter ships without CPython's test package (test.test_concurrent_futures)",
        allow_module_level=True,
    )

# Modules, not classes: a TestCase class in this module's namespace would be collected and run
# against ThreadPoolExecutor.
from test.support.script_helper import assert_python_ok
from test.test_concurrent_futures import executor as cf_executor
from test.test_concurrent_futures import test_as_completed as cf_as_completed
from test.test_concurrent_futures import test_shutdown as cf_shutdown
from test.test_concurrent_futures import test_thread_pool as cf_thread_pool
from test.test_concurrent_futures import test_wait as cf_wait
from test.test_concurrent_futures import util as cf_util

# CPython's test cases share one executor per test instance (setUp/tearDown) and count the
# process's threads: they are single-threaded tests (pytest-run-parallel runs each once).
pytestmark = pytest.mark.single_thread

#: Tests skipped because they read ThreadPoolExecutor's private attributes (name: reason).
PRIVATE_ATTRIBUTE_TESTS: dict[str, str] = {
    "test_default_workers": "reads executor._max_workers; Pool's default (the usable cores) is "
    "documented and public as pool.max_workers (checked in test_pool_executor)",
    "test_saturation": "reads executor._threads and executor._max_workers; restated below "
    "with pool.stats().workers",
    "test_idle_thread_reuse": "reads executor._threads; restated below with pool.stats().workers",
    "test_threads_terminate": "reads executor._threads; restated below with thread names",
    "test_context_manager_shutdown": "names ThreadPoolExecutor and reads its _threads; restated "
    "below",
    "test_del_shutdown": "reads executor._threads; restated below with thread names",
    "test_shutdown_no_wait": "reads executor._threads; restated below with thread names",
    "test_thread_names_assigned": "reads executor._threads; restated below with "
    "threading.enumerate()",
    "test_thread_names_default": "reads executor._threads and expects ThreadPoolExecutor's "
    "'ThreadPoolExecutor-N_i' names; restated below with Pool's 'ftpool_i'",
}


def _skip_private(cls: type) -> type:
    """Skip the listed tests that ``cls`` inherits (a test it restates itself still runs)."""
    for name, reason in PRIVATE_ATTRIBUTE_TESTS.items():
        if hasattr(cls, name) and name not in vars(cls):
            setattr(cls, name, unittest.skip(f"private ThreadPoolExecutor attribute: {reason}")(
                getattr(cls, name)
            ))
    return cls


class PoolMixin(cf_util.ThreadPoolMixin):
    """``ThreadPoolMixin`` with ``ftpool.Pool`` as the executor."""

    executor_type = Pool


def _pool_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{prefix}_")]


def _run_script(body: str) -> tuple[bytes, bytes]:
    rc, out, err = assert_python_ok("-c", body, **_child_env())
    assert rc == 0
    return out, err


def _child_env() -> dict[str, str]:
    # the child imports ftpool and the test package; on 3.13t it keeps the GIL off like us
    env: dict[str, str] = {}
    if os.environ.get("PYTHON_GIL"):
        env["PYTHON_GIL"] = os.environ["PYTHON_GIL"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(ftpool.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return env


@_skip_private
class PoolExecutorTest(PoolMixin, cf_thread_pool.ThreadPoolExecutorTest):
    """``ExecutorTest`` and ``ThreadPoolExecutorTest``'s own tests, on Pool."""

    def test_saturation(self) -> None:  # restated: public worker count
        executor = self.executor_type(4)
        sem = threading.Semaphore(0)
        for _ in range(15 * 4):
            executor.submit(sem.acquire)
        assert executor.stats().workers == 4
        for _ in range(15 * 4):
            sem.release()
        executor.shutdown(wait=True)

    def test_idle_thread_reuse(self) -> None:  # restated: an idle worker is reused
        executor = self.executor_type()
        executor.submit(cf_executor.mul, 21, 2).result()
        executor.submit(cf_executor.mul, 6, 7).result()
        executor.submit(cf_executor.mul, 3, 14).result()
        assert executor.stats().workers == 1
        executor.shutdown(wait=True)

    @unittest.skipUnless(hasattr(os, "register_at_fork"), "need os.register_at_fork")
    def test_hang_global_shutdown_lock(self) -> None:  # restated: Pool instead of TPE
        def submit(pool: Pool) -> None:
            with contextlib.suppress(RuntimeError):  # the pool may be closing
                pool.submit(submit, pool)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads
            with Pool(1) as pool:
                pool.submit(submit, pool)
                for _ in range(10):  # (50 in CPython's; each starts a process)
                    with cf_util.futures.ProcessPoolExecutor(
                        1, mp_context=mp.get_context("fork")
                    ) as workers:
                        workers.submit(tuple)

    @unittest.skipUnless(hasattr(os, "register_at_fork"), "need os.register_at_fork")
    def test_process_fork_from_a_threadpool(self) -> None:  # restated: Pool instead of TPE
        def fork_process_and_return_exitcode() -> int | None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                p = mp.get_context("fork").Process(target=lambda: 1)
                p.start()
            p.join()
            return p.exitcode

        with Pool(1) as pool:
            process_exitcode = pool.submit(fork_process_and_return_exitcode).result()
        assert process_exitcode == 0


class PoolWaitTest(PoolMixin, cf_wait.ThreadPoolWaitTests):
    """``WaitTests`` (and ``test_pending_calls_race``), on Pool."""


class PoolAsCompletedTest(PoolMixin, cf_as_completed.AsCompletedTests, cf_util.BaseTestCase):
    """``AsCompletedTests``, on Pool."""


@_skip_private
class PoolShutdownTest(PoolMixin, cf_shutdown.ThreadPoolShutdownTest):
    """``ExecutorShutdownTest`` and ``ThreadPoolShutdownTest``'s own tests, on Pool; the
    subprocess tests restated with ``from ftpool import Pool``."""

    def test_interpreter_shutdown(self) -> None:
        out, err = _run_script(
            "if 1:\n"
            "    from ftpool import Pool\n"
            "    from test.test_concurrent_futures.test_shutdown import sleep_and_print\n"
            "    if __name__ == '__main__':\n"
            "        t = Pool(5)\n"
            "        t.submit(sleep_and_print, 1.0, 'apple')\n"
        )
        assert not err
        assert out.strip() == b"apple"

    def test_submit_after_interpreter_shutdown(self) -> None:
        out, err = _run_script(
            "if 1:\n"
            "    import atexit\n"
            "    @atexit.register\n"
            "    def run_last():\n"
            "        try:\n"
            "            t.submit(id, None)\n"
            "        except RuntimeError:\n"
            "            print('runtime-error')\n"
            "            raise\n"
            "    from ftpool import Pool\n"
            "    if __name__ == '__main__':\n"
            "        t = Pool(5)\n"
        )
        # CPython's asserts "RuntimeError: cannot schedule..." in the traceback: Pool raises
        # PoolClosedError, a RuntimeError subclass (the `except RuntimeError` above caught it),
        # so the traceback names that class before the same message.
        assert "PoolClosedError: cannot schedule new futures after interpreter shutdown" in (
            err.decode()
        )
        assert out.strip() == b"runtime-error"

    def test_hang_gh83386(self) -> None:
        out, err = _run_script(
            "if True:\n"
            "    from ftpool import Pool\n"
            "    from test.test_concurrent_futures.test_shutdown import sleep_and_print\n"
            "    if __name__ == '__main__':\n"
            "        t = Pool(max_workers=3)\n"
            "        t.submit(sleep_and_print, 1.0, 'apple')\n"
            "        t.shutdown(wait=False)\n"
        )
        assert not err
        assert out.strip() == b"apple"

    def test_cancel_futures_wait_false(self) -> None:
        out, err = _run_script(
            "if True:\n"
            "    from ftpool import Pool\n"
            "    from test.test_concurrent_futures.test_shutdown import sleep_and_print\n"
            "    if __name__ == '__main__':\n"
            "        t = Pool()\n"
            "        t.submit(sleep_and_print, .1, 'apple')\n"
            "        t.shutdown(wait=False, cancel_futures=True)\n"
        )
        assert not err
        assert out.strip() in [b"apple", b""]

    # --- the private-attribute tests, restated through public means -----------------------------

    def _prefix(self) -> str:
        return f"stdlib-{id(self)}"

    def test_threads_terminate_public(self) -> None:
        prefix = self._prefix()
        executor = Pool(5, prefix)
        sem = threading.Semaphore(0)
        for _ in range(3):
            executor.submit(sem.acquire)
        assert len(_pool_threads(prefix)) == 3
        for _ in range(3):
            sem.release()
        executor.shutdown()
        assert _pool_threads(prefix) == []  # shutdown(wait=True) joined them

    def test_context_manager_shutdown_public(self) -> None:
        prefix = self._prefix()
        with Pool(max_workers=5, thread_name_prefix=prefix) as e:
            assert list(e.map(abs, range(-5, 5))) == [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]
        assert _pool_threads(prefix) == []

    def test_del_shutdown_public(self) -> None:
        prefix = self._prefix()
        executor = Pool(max_workers=5, thread_name_prefix=prefix)
        res = executor.map(abs, range(-5, 5))
        threads = _pool_threads(prefix)
        del executor
        cf_util.support.gc_collect()
        for t in threads:
            t.join()
        assert all(r == abs(v) for r, v in zip(res, range(-5, 5), strict=True))

    def test_shutdown_no_wait_public(self) -> None:
        prefix = self._prefix()
        executor = Pool(max_workers=5, thread_name_prefix=prefix)
        res = executor.map(abs, range(-5, 5))
        threads = _pool_threads(prefix)
        executor.shutdown(wait=False)
        for t in threads:
            t.join()
        assert all(r == abs(v) for r, v in zip(res, range(-5, 5), strict=True))

    def test_thread_names_assigned_public(self) -> None:
        executor = Pool(max_workers=5, thread_name_prefix="SpecialPool")
        started = threading.Barrier(5, timeout=30)
        for _ in range(5):
            executor.submit(started.wait)  # all five workers exist at once
        threads = _pool_threads("SpecialPool")
        del executor
        cf_util.support.gc_collect()
        assert len(threads) == 5
        for t in threads:
            assert re.search(r"^SpecialPool_[0-4]$", t.name)
            t.join()

    def test_thread_names_default_public(self) -> None:
        executor = Pool(max_workers=5)
        names: set[str] = set()
        started = threading.Barrier(5, timeout=30)

        def name() -> None:
            names.add(threading.current_thread().name)
            started.wait()

        for _ in range(5):
            executor.submit(name)
        executor.shutdown()
        assert len(names) == 5
        for thread_name in names:
            assert re.search(r"^ftpool_[0-4]$", thread_name)


def test_the_private_attribute_skips_name_real_tests() -> None:
    # a renamed test upstream would make a skip silently stale: each listed name must exist
    known: set[str] = set()
    for cls in (cf_thread_pool.ThreadPoolExecutorTest, cf_shutdown.ThreadPoolShutdownTest):
        known.update(n for n in dir(cls) if n.startswith("test_"))
    assert set(PRIVATE_ATTRIBUTE_TESTS) <= known

