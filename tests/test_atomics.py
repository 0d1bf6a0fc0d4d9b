"""ftpool.Atomics: every operation on every typecode, bad input, the one-view-per-buffer rule, the
views' release, and exact totals under contention."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest
from thread_helpers import run_threads

from ftpool import Atomics, SharedArray, SharedBuffer
from ftpool import _shared as shared_module

TYPECODES = ["b", "B", "h", "H", "i", "I", "q", "Q"]
SIGNED = {"b", "h", "i", "q"}


def _wrap(value: int, typecode: str) -> int:
    bits = 8 * SharedArray(typecode, 0).itemsize  # type: ignore[arg-type]
    value &= (1 << bits) - 1
    if typecode in SIGNED and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def test_the_seed_articles_atomic_counter() -> None:
    shared = SharedArray("i", SharedBuffer(4))
    shared[0] = 0
    assert Atomics.load(shared, 0) == 0
    Atomics.add(shared, 0, 1)
    assert Atomics.load(shared, 0) == 1
    Atomics.sub(shared, 0, 1)
    assert Atomics.load(shared, 0) == 0


@pytest.mark.parametrize("typecode", TYPECODES)
def test_every_operation_returns_the_old_value(typecode: str) -> None:
    a = SharedArray(typecode, 3)  # type: ignore[arg-type]
    assert Atomics.store(a, 1, 12) == 12
    assert Atomics.load(a, 1) == 12
    assert Atomics.add(a, 1, 5) == 12
    assert Atomics.sub(a, 1, 7) == 17
    assert Atomics.and_(a, 1, 0b0110) == 10
    assert Atomics.or_(a, 1, 0b1001) == 0b0010
    assert Atomics.xor(a, 1, 0b0011) == 0b1011
    assert Atomics.exchange(a, 1, 33) == 0b1000
    assert Atomics.compare_exchange(a, 1, 33, 44) == 33  # equal: exchanged
    assert Atomics.compare_exchange(a, 1, 33, 55) == 44  # not equal: unchanged
    assert a.tolist() == [0, 44, 0]  # the neighbours were never touched


@pytest.mark.parametrize("typecode", TYPECODES)
def test_results_wrap_around_like_the_element_type(typecode: str) -> None:
    a = SharedArray(typecode, 1)  # type: ignore[arg-type]
    Atomics.store(a, 0, a.max)
    assert Atomics.add(a, 0, 1) == a.max
    assert Atomics.load(a, 0) == a.min
    assert Atomics.sub(a, 0, 1) == a.min
    assert Atomics.load(a, 0) == a.max
    assert Atomics.add(a, 0, a.max) == a.max
    assert Atomics.load(a, 0) == _wrap(2 * a.max, typecode)


@pytest.mark.parametrize("typecode", TYPECODES)
def test_extreme_values_round_trip(typecode: str) -> None:
    a = SharedArray(typecode, 2)  # type: ignore[arg-type]
    for value in (a.min, a.max, 0, 1):
        Atomics.store(a, 1, value)
        assert Atomics.load(a, 1) == value
        assert a[1] == value
        assert Atomics.exchange(a, 1, value) == value
        assert Atomics.compare_exchange(a, 1, value, value) == value


def test_unsigned_and_signed_views_of_the_same_bytes() -> None:
    buf = SharedBuffer(8)
    signed, unsigned = SharedArray("i", buf), SharedArray("I", buf)
    Atomics.store(signed, 0, -1)
    assert Atomics.load(unsigned, 0) == 2**32 - 1
    assert Atomics.add(unsigned, 0, 1) == 2**32 - 1
    assert Atomics.load(signed, 0) == 0


OPERATIONS: dict[str, Callable[[SharedArray, Any, Any], object]] = {
    "store": Atomics.store,
    "add": Atomics.add,
    "sub": Atomics.sub,
    "and_": Atomics.and_,
    "or_": Atomics.or_,
    "xor": Atomics.xor,
    "exchange": Atomics.exchange,
    "compare_exchange value": lambda a, i, v: Atomics.compare_exchange(a, i, 5, v),
    "compare_exchange expected": lambda a, i, v: Atomics.compare_exchange(a, i, v, 1),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("typecode", ["b", "H", "i", "Q"])
def test_value_out_of_range_raises_overflow_error_and_writes_nothing(
    operation: str, typecode: str
) -> None:
    a = SharedArray(typecode, 2)  # type: ignore[arg-type]
    a[0] = 5
    for bad in (a.min - 1, a.max + 1, 2**200):
        with pytest.raises(OverflowError, match="does not fit typecode"):
            OPERATIONS[operation](a, 0, bad)
    assert a.tolist() == [5, 0]


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("bad", [1.0, "1", None, 2 + 0j])
def test_non_int_value_raises_type_error_and_writes_nothing(operation: str, bad: object) -> None:
    a = SharedArray("q", 2)
    a[0] = 5
    with pytest.raises(TypeError, match="must be an int"):
        OPERATIONS[operation](a, 0, bad)
    assert a.tolist() == [5, 0]


def _with_value_one(op: Callable[[SharedArray, Any, Any], object]) -> Callable[..., object]:
    return lambda a, i: op(a, i, 1)


READS: dict[str, Callable[[SharedArray, Any], object]] = {
    "load": Atomics.load,
    **{name: _with_value_one(op) for name, op in OPERATIONS.items()},
}


@pytest.mark.parametrize("operation", list(READS))
@pytest.mark.parametrize("index", [4, -5, 2**70])
def test_index_out_of_range_raises_index_error_and_writes_nothing(
    operation: str, index: int
) -> None:
    a = SharedArray("i", 4)
    with pytest.raises(IndexError, match="out of range"):
        READS[operation](a, index)
    assert a.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("operation", list(READS))
@pytest.mark.parametrize("index", [0.0, "0", None])
def test_non_int_index_raises_type_error(operation: str, index: object) -> None:
    a = SharedArray("i", 4)
    with pytest.raises(TypeError, match="index must be an int"):
        READS[operation](a, index)
    assert a.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("operation", list(READS))
@pytest.mark.parametrize("not_an_array", [[0, 0], bytearray(8), memoryview(bytearray(8)), None])
def test_operations_take_a_shared_array(operation: str, not_an_array: object) -> None:
    with pytest.raises(TypeError, match="SharedArray"):
        READS[operation](not_an_array, 0)  # type: ignore[arg-type]


def test_atomics_is_a_namespace_not_a_class_to_instantiate() -> None:
    with pytest.raises(TypeError, match="namespace"):
        Atomics()


def test_is_lock_free_for_the_element_sizes() -> None:
    for size in (1, 2, 4, 8):
        assert Atomics.is_lock_free(size) is True
    for size in (0, 3, 5, 16, 32, -1):
        assert Atomics.is_lock_free(size) is False
    with pytest.raises(TypeError):
        Atomics.is_lock_free(4.0)  # type: ignore[arg-type]


def test_one_atomics_view_per_buffer_and_kind_not_per_operation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    atomics = shared_module.load_atomics()
    calls: list[tuple[int, Any]] = []
    real = atomics.atomicview

    def counting(buffer: Any, atype: Any, **kwargs: Any) -> Any:
        calls.append((memoryview(buffer).nbytes, atype))
        return real(buffer=buffer, atype=atype, **kwargs)

    monkeypatch.setattr(atomics, "atomicview", counting)
    buf = SharedBuffer(64)
    views = [SharedArray("i", buf), SharedArray("i", buf, 16), SharedArray("I", buf),
             SharedArray("q", buf, 8, length=2)]
    for view in views:
        for i in range(len(view)):
            Atomics.add(view, i, 1)
            Atomics.load(view, i)

    def work(_: int) -> None:
        for view in views:
            Atomics.add(view, 0, 1)

    run_threads(3, work)
    assert sorted(calls, key=repr) == sorted(
        [(4, atomics.INT), (4, atomics.UINT), (8, atomics.INT)], key=repr
    )


def test_the_atomics_view_is_released_when_the_buffer_is_collected() -> None:
    buf = SharedBuffer(16)
    array = SharedArray("i", buf)
    Atomics.add(array, 0, 1)
    binding = buf._bindings[(4, True)]
    core = binding.context._core
    assert core  # not released while the buffer lives
    del buf, array
    gc.collect()
    assert not core  # released by the finalizer, under ftpool's cffi lock


# --- contention: N threads x M operations give exactly N x M -------------------------------------

THREADS, OPS, ROUNDS = 4, 1500, 8


@pytest.mark.parametrize("typecode", ["i", "q", "Q"])
def test_concurrent_add_and_sub_are_exact(typecode: str) -> None:
    for _ in range(ROUNDS):
        a = SharedArray(typecode, 3)  # type: ignore[arg-type]
        Atomics.store(a, 2, THREADS * OPS)

        def work(_: int, a: SharedArray = a) -> None:
            add, sub = Atomics.add, Atomics.sub
            for _ in range(OPS):
                add(a, 0, 1)
                sub(a, 2, 1)

        run_threads(THREADS, work)
        assert a.tolist() == [THREADS * OPS, 0, 0]


def test_concurrent_compare_exchange_loops_are_exact() -> None:
    for _ in range(ROUNDS):
        a = SharedArray("q", 1)

        def work(_: int, a: SharedArray = a) -> None:
            for _ in range(OPS // 2):
                old = Atomics.load(a, 0)
                while (seen := Atomics.compare_exchange(a, 0, old, old + 1)) != old:
                    old = seen

        run_threads(THREADS, work)
        assert Atomics.load(a, 0) == THREADS * (OPS // 2)


def test_threads_on_neighbouring_elements_do_not_disturb_each_other() -> None:
    for _ in range(ROUNDS // 2):
        a = SharedArray("b", THREADS)  # one byte each: neighbours share a machine word

        def work(i: int, a: SharedArray = a) -> None:
            for _ in range(OPS):
                Atomics.add(a, i, 1)

        run_threads(THREADS, work)
        assert a.tolist() == [_wrap(OPS, "b")] * THREADS


def test_concurrent_or_and_xor_toggle_bits_exactly() -> None:
    a = SharedArray("Q", 2)

    def work(i: int) -> None:
        for _ in range(OPS):
            Atomics.xor(a, 0, 1 << i)  # an even number of toggles: back to 0
        Atomics.or_(a, 1, 1 << (8 * i))

    run_threads(THREADS, work)
    assert Atomics.load(a, 0) == 0
    assert Atomics.load(a, 1) == sum(1 << (8 * i) for i in range(THREADS))


def test_exchange_hands_each_value_to_exactly_one_thread() -> None:
    a = SharedArray("i", 1)
    Atomics.store(a, 0, -1)
    seen: list[list[int]] = [[] for _ in range(THREADS)]

    def work(i: int) -> None:
        for k in range(OPS):
            seen[i].append(Atomics.exchange(a, 0, i * OPS + k))

    run_threads(THREADS, work)
    taken = [*(v for values in seen for v in values), Atomics.load(a, 0)]
    assert sorted(taken) == [-1, *range(THREADS * OPS)]
