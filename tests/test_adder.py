"""Adder (Java's LongAdder): its operations, wrap-around, bad input, and where its cells live."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

import ftpool
from ftpool import Adder, AtomicCounter
from ftpool._adder import STRIDE

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def test_operations_and_their_results() -> None:
    adder = Adder()
    assert adder.sum() == 0
    assert adder.add() is None
    adder.add(5)
    adder.add(-2)
    assert adder.sum() == 4
    assert int(adder) == 4
    assert repr(adder) == "Adder(4)"
    assert adder.sum_then_reset() == 4
    assert adder.sum() == 0
    adder.add(7)
    assert adder.reset() is None
    assert adder.sum() == 0
    assert adder.sum_then_reset() == 0


def test_add_through_the_class_and_hoisted_reach_the_same_total() -> None:
    adder = Adder()
    add = adder.add
    add()
    add(2)
    Adder.add(adder, 3)
    adder.add(4)
    assert adder.sum() == 10


def test_bool_counts_as_an_int() -> None:
    adder = Adder()
    adder.add(True)
    adder.add(False)
    assert adder.sum() == 1


class _Index:
    def __index__(self) -> int:
        return 6


def test_an_index_object_is_accepted_as_an_int() -> None:
    adder = Adder()
    adder.add(_Index())  # type: ignore[arg-type]
    assert adder.sum() == 6


@pytest.mark.parametrize("bad", [1.0, "1", None, [1], 1 + 0j])
def test_non_int_raises_type_error_and_adds_nothing(bad: object) -> None:
    adder = Adder()
    adder.add(3)
    add = adder.add
    calls: list[Callable[[], object]] = [
        lambda: adder.add(bad),  # type: ignore[arg-type]
        lambda: add(bad),  # type: ignore[arg-type]
        lambda: Adder.add(adder, bad),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(TypeError, match=r"Adder\.add\(n\): n must be an int"):
            call()
    assert adder.sum() == 3


@pytest.mark.parametrize("bad", [INT64_MAX + 1, INT64_MIN - 1, 2**100, -(2**100)])
def test_out_of_int64_range_raises_overflow_error_and_adds_nothing(bad: int) -> None:
    adder = Adder()
    adder.add(3)
    with pytest.raises(OverflowError, match="64-bit signed"):
        adder.add(bad)
    assert adder.sum() == 3


def test_the_int64_limits_themselves_are_accepted() -> None:
    adder = Adder()
    adder.add(INT64_MAX)
    assert adder.sum() == INT64_MAX
    adder.reset()
    adder.add(INT64_MIN)
    assert adder.sum() == INT64_MIN


def test_totals_wrap_around_at_the_int64_limits_wherever_the_parts_are() -> None:
    """Like AtomicCounter: the result is the true total modulo 2**64, whether one cell wrapped or
    the parts sit in different threads' cells."""
    one_cell = Adder()
    one_cell.add(INT64_MAX)
    one_cell.add(1)
    assert one_cell.sum() == INT64_MIN
    counter = AtomicCounter(INT64_MAX)
    assert counter.add_and_get(1) == one_cell.sum()

    two_cells = Adder()
    two_cells.add(INT64_MAX)
    thread = threading.Thread(target=two_cells.add)  # adds 1 from another cell
    thread.start()
    thread.join()
    assert two_cells.sum() == INT64_MIN
    assert two_cells.sum_then_reset() == INT64_MIN
    assert two_cells.sum() == 0


def test_each_thread_gets_its_own_cell_on_its_own_cache_line() -> None:
    adder = Adder()
    handles: list[int] = []
    ready = threading.Barrier(3)

    def body() -> None:
        adder.add()
        ready.wait()  # all three hold their cells at once
        ready.wait()

    threads = [threading.Thread(target=body) for _ in range(2)]
    for thread in threads:
        thread.start()
    adder.add()
    ready.wait()
    cells = adder._core.cells
    live = [cell for index, cell in enumerate(cells) if index not in adder._core.free]
    ready.wait()
    for thread in threads:
        thread.join()
    assert len(live) == 3
    for array, element in live:
        handles.append(array.buffer._address + array.offset + 8 * element)
    assert all(address % STRIDE == 0 for address in handles)
    assert len({address // STRIDE for address in handles}) == 3
    assert adder.sum() == 3


def test_independent_adders() -> None:
    first, second = Adder(), Adder()
    first.add(1)
    second.add(2)
    assert (first.sum(), second.sum()) == (1, 2)


def test_an_adder_is_a_thread_local_whose_add_is_per_thread() -> None:
    adder = Adder()
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(adder.add))
    thread.start()
    thread.join()
    assert isinstance(adder, threading.local)
    assert seen[0] is not adder.add
    assert adder.add.__doc__ == Adder.add.__doc__


def test_a_hoisted_add_outlives_its_adder() -> None:
    adder = Adder()
    add = adder.add
    add(2)
    del adder
    add(3)  # its cell's memory is kept alive by the function itself


def test_adder_is_exported_and_documented() -> None:
    assert "Adder" in ftpool.__all__
    for name in ("add", "sum", "reset", "sum_then_reset"):
        doc = getattr(Adder, name).__doc__
        assert doc
        assert "block" in doc.lower()


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this build (its own interpreter exit)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)


def test_import_ftpool_does_not_import_atomics_until_an_adder_is_made() -> None:
    code = (
        "import sys, ftpool\n"
        "assert 'atomics' not in sys.modules and 'cffi' not in sys.modules\n"
        "a = ftpool.Adder()\n"
        "assert 'atomics' in sys.modules\n"
        "a.add(2)\n"
        "print(a.sum())\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_interpreter_exit_with_a_used_adder_reports_nothing() -> None:
    # The main thread's cell handle is freed during finalization, after module globals are
    # cleared: its finalizer must not need them ("Exception ignored in _CellRef.__del__").
    code = (
        "import threading, ftpool\n"
        "adder = ftpool.Adder()\n"
        "threads = [threading.Thread(target=lambda: [adder.add() for _ in range(100)])\n"
        "           for _ in range(4)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "adder.add(5)\n"
        "print(adder.sum())\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "405"
    assert result.stderr == ""
