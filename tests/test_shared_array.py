"""SharedBuffer and SharedArray: construction, views over one buffer, plain access, bad input."""

from __future__ import annotations

import gc
import sys
import threading

import pytest

from ftpool import Atomics, SharedArray, SharedBuffer

RANGES = {
    "b": (-(2**7), 2**7 - 1), "B": (0, 2**8 - 1),
    "h": (-(2**15), 2**15 - 1), "H": (0, 2**16 - 1),
    "i": (-(2**31), 2**31 - 1), "I": (0, 2**32 - 1),
    "q": (-(2**63), 2**63 - 1), "Q": (0, 2**64 - 1),
}
SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "q": 8, "Q": 8}


def test_shared_buffer_is_zeroed_aligned_and_sized() -> None:
    buf = SharedBuffer(13)
    assert buf.nbytes == 13
    assert len(buf) == 13
    view = memoryview(buf)
    assert view.nbytes == 13
    assert bytes(view) == bytes(13)
    assert buf._address % 8 == 0
    assert "nbytes=13" in repr(buf)


def test_shared_buffer_of_zero_bytes() -> None:
    buf = SharedBuffer(0)
    assert buf.nbytes == 0
    array = SharedArray("i", buf)
    assert len(array) == 0
    assert array.tolist() == []
    with pytest.raises(IndexError):
        Atomics.load(array, 0)


@pytest.mark.parametrize("bad", [1.0, "8", None, True])
def test_shared_buffer_size_must_be_an_int(bad: object) -> None:
    with pytest.raises(TypeError, match="nbytes must be an int"):
        SharedBuffer(bad)  # type: ignore[arg-type]


def test_shared_buffer_size_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="nbytes must be >= 0"):
        SharedBuffer(-1)


@pytest.mark.parametrize("typecode", list(RANGES))
def test_new_array_has_the_typecode_size_and_range(typecode: str) -> None:
    array = SharedArray(typecode, 5)  # type: ignore[arg-type]
    assert len(array) == 5
    assert array.typecode == typecode
    assert array.itemsize == SIZES[typecode]
    assert array.nbytes == 5 * SIZES[typecode]
    assert array.buffer.nbytes == 5 * SIZES[typecode]
    assert array.offset == 0
    assert (array.min, array.max) == RANGES[typecode]
    assert array.tolist() == [0] * 5
    low, high = RANGES[typecode]
    array[0] = low
    array[4] = high
    assert array[0] == low
    assert array[4] == high
    assert array[-1] == high
    assert list(array) == [low, 0, 0, 0, high]


def test_views_over_one_buffer_see_each_others_writes() -> None:
    buf = SharedBuffer(16)
    as_bytes = SharedArray("B", buf)
    as_int32 = SharedArray("i", buf)
    as_int64 = SharedArray("q", buf, 8)
    assert (len(as_bytes), len(as_int32), len(as_int64)) == (16, 4, 1)
    as_int32[0] = 0x01020304
    assert as_bytes[:4] == ([4, 3, 2, 1] if sys.byteorder == "little" else [1, 2, 3, 4])
    as_int64[0] = -1
    assert as_int32[2:] == [-1, -1]
    assert as_bytes[8:] == [255] * 8
    Atomics.add(as_int32, 2, 1)
    assert as_int64[0] == (-(2**32) if sys.byteorder == "little" else 2**32 - 1)
    # Writes through the buffer protocol are seen too.
    memoryview(buf)[1] = 7
    assert as_bytes[1] == 7


def test_view_with_offset_and_length() -> None:
    buf = SharedBuffer(32)
    middle = SharedArray("h", buf, 4, length=3)
    assert len(middle) == 3
    assert middle.offset == 4
    middle[2] = -2
    assert SharedArray("h", buf)[4] == -2  # byte 4 + 2 * 2 = element 4 of the whole buffer
    assert middle[:] == [0, 0, -2]


def test_views_are_independent_of_other_threads_and_shared_with_them() -> None:
    array = SharedArray("q", 4)

    def writer() -> None:
        array[1] = 42

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join()
    assert array[1] == 42


def test_negative_indexes_count_from_the_end() -> None:
    array = SharedArray("i", 3)
    array[-1] = 5
    assert array[2] == 5
    assert array[-3] == 0
    assert Atomics.load(array, -1) == 5
    assert Atomics.add(array, -3, 2) == 0
    assert array[0] == 2


@pytest.mark.parametrize("index", [3, -4, 10**30, -(10**30)])
def test_index_out_of_range_raises_index_error_and_writes_nothing(index: int) -> None:
    array = SharedArray("i", 3)
    with pytest.raises(IndexError, match="out of range"):
        array[index]
    with pytest.raises(IndexError, match="out of range"):
        array[index] = 1
    assert array.tolist() == [0, 0, 0]


@pytest.mark.parametrize("index", [1.0, "0", None])
def test_index_must_be_an_int(index: object) -> None:
    array = SharedArray("i", 3)
    with pytest.raises(TypeError, match="index must be an int"):
        array[index]  # type: ignore[index]
    with pytest.raises(TypeError, match="index must be an int"):
        array[index] = 1  # type: ignore[index]


@pytest.mark.parametrize("typecode", list(RANGES))
def test_value_outside_the_range_raises_overflow_error_and_writes_nothing(typecode: str) -> None:
    array = SharedArray(typecode, 2)  # type: ignore[arg-type]
    array[0] = 1
    low, high = RANGES[typecode]
    for bad in (low - 1, high + 1, 2**64, -(2**64)):
        with pytest.raises(OverflowError, match="does not fit typecode"):
            array[0] = bad
    assert array.tolist() == [1, 0]


@pytest.mark.parametrize("bad", [1.5, "1", None, b"\x01", [1]])
def test_value_must_be_an_int(bad: object) -> None:
    array = SharedArray("i", 2)
    with pytest.raises(TypeError, match="value must be an int"):
        array[0] = bad  # type: ignore[assignment]
    assert array.tolist() == [0, 0]


def test_bool_and_index_objects_are_accepted_as_ints() -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 9

    array = SharedArray("b", 3)
    array[0] = True
    array[1] = Level.HIGH
    Atomics.store(array, 2, False)
    assert array.tolist() == [1, 9, 0]
    assert Atomics.add(array, 0, True) == 1
    assert array[0] == 2


@pytest.mark.parametrize("typecode", ["l", "L", "f", "d", "c", "u", "", "ii", 105, None])
def test_unknown_typecode_raises_value_error_naming_the_valid_ones(typecode: object) -> None:
    with pytest.raises(ValueError, match=r"unknown typecode .*'q' \(int64\)"):
        SharedArray(typecode, 4)  # type: ignore[arg-type]


@pytest.mark.parametrize(("typecode", "offset"), [("h", 1), ("i", 2), ("q", 4), ("Q", 12)])
def test_misaligned_offset_raises_value_error(typecode: str, offset: int) -> None:
    with pytest.raises(ValueError, match="not a multiple of the element size"):
        SharedArray(typecode, SharedBuffer(64), offset)  # type: ignore[arg-type]


def test_negative_offset_raises_value_error() -> None:
    # -4 is a multiple of 4: the message must name what is wrong, the sign
    with pytest.raises(ValueError, match="offset must be >= 0"):
        SharedArray("i", SharedBuffer(16), -4)


def test_buffer_too_small_raises_value_error() -> None:
    buf = SharedBuffer(10)
    with pytest.raises(ValueError, match="buffer too small"):
        SharedArray("i", buf, 4, length=2)
    with pytest.raises(ValueError, match="past the end"):
        SharedArray("b", buf, 11)
    with pytest.raises(ValueError, match="whole number"):
        SharedArray("i", buf)  # 10 bytes are not a whole number of int32
    with pytest.raises(ValueError, match="whole number"):
        SharedArray("q", buf, 8)
    assert len(SharedArray("i", buf, length=2)) == 2  # explicit length: the rest is unused


def test_negative_length_raises_value_error() -> None:
    with pytest.raises(ValueError, match="length must be >= 0"):
        SharedArray("i", -1)
    with pytest.raises(ValueError, match="length must be >= 0"):
        SharedArray("i", SharedBuffer(8), 0, length=-1)


def test_offset_without_a_buffer_raises_value_error() -> None:
    with pytest.raises(ValueError, match="only apply to a view over a SharedBuffer"):
        SharedArray("i", 4, 4)


@pytest.mark.parametrize("bad", [1.0, "4", b"1234", bytearray(8), None, True])
def test_second_argument_must_be_a_length_or_a_shared_buffer(bad: object) -> None:
    with pytest.raises(TypeError, match="must be an int or a SharedBuffer"):
        SharedArray("i", bad)  # type: ignore[arg-type]


def test_slices_read_a_list_and_slice_assignment_is_refused() -> None:
    array = SharedArray("H", 5)
    for i in range(5):
        array[i] = i * 10
    assert array[1:4] == [10, 20, 30]
    assert array[::-2] == [40, 20, 0]
    with pytest.raises(TypeError, match="slice assignment"):
        array[0:2] = [1, 2]  # type: ignore[index]
    assert array.tolist() == [0, 10, 20, 30, 40]


def test_repr_shows_the_typecode_and_the_first_values() -> None:
    array = SharedArray("i", 3)
    array[1] = -7
    assert repr(array) == "SharedArray('i', [0, -7, 0])"
    assert repr(SharedArray("B", 20)).endswith(", 0, ...])")


def test_memoryview_of_an_array_is_typed_and_live() -> None:
    array = SharedArray("i", 3)
    view = memoryview(array)
    assert view.format == "i"
    view[2] = 99
    assert array[2] == 99


def test_the_buffer_memory_lives_as_long_as_a_view_of_it() -> None:
    array = SharedArray("q", SharedBuffer(64), 8, length=2)
    gc.collect()
    Atomics.store(array, 1, 123)
    assert array.tolist() == [0, 123]
    assert array.buffer.nbytes == 64
