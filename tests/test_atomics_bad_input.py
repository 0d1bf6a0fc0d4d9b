"""Bad input to shared memory and atomics: every constructor and operation with wrong types and
values. Each raises the documented error (IndexError / OverflowError / TypeError / ValueError)
with a message that says what was wrong, and nothing is written (the memory is unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from ftpool import AtomicCounter, Atomics, SharedArray, SharedBuffer


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: SharedBuffer(-1), ValueError, ">= 0"),
        (lambda: SharedBuffer(2.0), TypeError, "must be an int"),
        (lambda: SharedBuffer("8"), TypeError, "must be an int"),
        (lambda: SharedArray("x", 4), ValueError, "typecode"),
        (lambda: SharedArray("f", 4), ValueError, "typecode"),
        (lambda: SharedArray(1, 4), (TypeError, ValueError), "typecode"),
        (lambda: SharedArray("i", -1), ValueError, ">= 0"),
        (lambda: SharedArray("i", 1.5), TypeError, "int or a SharedBuffer"),
        (lambda: SharedArray("i", SharedBuffer(8), 2), ValueError, "multiple of the element"),
        (lambda: SharedArray("q", SharedBuffer(4)), ValueError, ""),
        (lambda: SharedArray("i", SharedBuffer(8), -4), ValueError, ""),
        (lambda: AtomicCounter("1"), TypeError, "must be an int"),
        (lambda: AtomicCounter(2**63), OverflowError, "does not fit"),
    ],
)
def test_constructors_reject(make: Callable[[], object], error: type[Exception] | tuple[type[
        Exception], ...], match: str) -> None:
    with pytest.raises(error, match=match or None):
        make()


def ops(a: SharedArray) -> list[tuple[str, Callable[[], object], type[Exception], str]]:
    big = a.max + 1
    return [
        ("index out of range", lambda: Atomics.store(a, len(a), 1), IndexError, "out of range"),
        ("negative index out of range", lambda: Atomics.add(a, -len(a) - 1, 1), IndexError,
         "out of range"),
        ("index not an int", lambda: Atomics.add(a, "0", 1), TypeError, "index must be an int"),
        ("index a float", lambda: Atomics.sub(a, 0.0, 1), TypeError, "index must be an int"),
        ("value too big", lambda: Atomics.store(a, 0, big), OverflowError, "does not fit"),
        ("value too small", lambda: Atomics.exchange(a, 0, a.min - 1), OverflowError,
         "does not fit"),
        ("value not an int", lambda: Atomics.or_(a, 0, 1.0), TypeError, "must be an int"),
        ("value a str", lambda: Atomics.xor(a, 0, "1"), TypeError, "must be an int"),
        ("expected too big", lambda: Atomics.compare_exchange(a, 0, big, 1), OverflowError,
         "does not fit"),
        ("replacement not int", lambda: Atomics.compare_exchange(a, 0, 0, None), TypeError,
         "must be an int"),
        ("item assignment", lambda: a.__setitem__(0, big), OverflowError, "does not fit"),
        ("item type", lambda: a.__setitem__(0, "1"), TypeError, "must be an int"),
        ("not an array", lambda: Atomics.load([1, 2], 0), TypeError, "SharedArray"),
    ]


@pytest.mark.parametrize("typecode", list("bBhHiIqQ"))
def test_failed_operations_write_nothing(typecode: str) -> None:
    a = SharedArray(typecode, 3)
    for i, value in enumerate((a.max, a.min, 1)):
        a[i] = value
    before = a.tolist()
    for what, call, error, match in ops(a):
        with pytest.raises(error, match=match):
            call()
        assert a.tolist() == before, what


def test_wait_and_notify_reject_bad_input_and_change_nothing() -> None:
    a = SharedArray("i", 2)
    a[0] = 5
    for typecode in "bBhHIQ":
        with pytest.raises(TypeError, match="'i'"):
            Atomics.wait(SharedArray(typecode, 1), 0, 0, timeout=0)
        with pytest.raises(TypeError, match="'i'"):
            Atomics.notify(SharedArray(typecode, 1), 0)
    bad_waits: list[tuple[Callable[[], object], type[Exception], str]] = [
        (lambda: Atomics.wait(a, 0, 5, timeout=-1), ValueError, ">= 0"),
        (lambda: Atomics.wait(a, 0, 5, timeout=math.nan), ValueError, ">= 0"),
        (lambda: Atomics.wait(a, 0, 5, timeout="1"), TypeError, "number of seconds"),
        (lambda: Atomics.wait(a, 2, 5, timeout=0), IndexError, "out of range"),
        (lambda: Atomics.wait(a, 0, 2**40, timeout=0), OverflowError, "does not fit"),
        (lambda: Atomics.notify(a, 0, -1), ValueError, ">= 0"),
        (lambda: Atomics.notify(a, 0, 1.5), TypeError, "must be an int"),
        (lambda: Atomics.notify(a, 9), IndexError, "out of range"),
    ]
    for call, error, match in bad_waits:
        with pytest.raises(error, match=match):
            call()
    assert a.tolist() == [5, 0]
    assert Atomics.wait(a, 0, 5, timeout=0) == "timed-out"  # still usable
    assert Atomics.notify(a, 0) == 0


def test_counter_bad_input_changes_nothing() -> None:
    counter = AtomicCounter(10)
    for call, error in [
        (lambda: counter.add("1"), TypeError),
        (lambda: counter.sub(1.0), TypeError),
        (lambda: counter.store(2**64), OverflowError),
        (lambda: counter.compare_exchange(10, None), TypeError),
        (lambda: counter.wait(10, timeout=-1), ValueError),
        (lambda: counter.notify(-1), ValueError),
    ]:
        with pytest.raises(error):
            call()
        assert counter.load() == 10
    assert counter.add() == 11
