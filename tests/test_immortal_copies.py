"""Pool and Worker run a task through a copy of its function whose constants are immortal: the
copy must be invisible (every way a function can be observed behaves as before) and must not
keep anything alive. On a GIL build there is nothing to gain and no copy is made."""

from __future__ import annotations

import functools
import gc
import itertools
import os
import random
import subprocess
import sys
import textwrap
import traceback
import weakref
from types import FunctionType
from typing import Any

import pytest

import ftpool
from ftpool import _immortal
from ftpool._immortal import is_immortal, mortal_constants, run_copy
from ftpool._runtime import free_threaded_build

free_threaded_only = pytest.mark.skipif(not free_threaded_build(),
                                        reason="needs a free-threaded build")

SOURCE = textwrap.dedent('''
    import functools, sys

    counter = {"calls": 0}

    def scaled(x, factor=1.5, *, offset=0.25):
        """a docstring"""
        counter["calls"] += 1
        return x * factor + offset

    def constants_seen():
        return [c for c in sys._getframe().f_code.co_consts if isinstance(c, float)] + [UNIQUE]

    def record_constants(into):
        if into is None:
            return UNIQUE
        into.extend(c for c in sys._getframe().f_code.co_consts if isinstance(c, float))

    def uses_unique(x):
        return x * UNIQUE

    def globals_of():
        return globals()

    def fact(n):
        return 1.0 if n <= 1 else n * fact(n - 1)

    def make_counter():
        total = 0.0
        def add(x):
            nonlocal total
            total += x * 1.0
            return total
        return add

    def appends(item, into=[]):
        into.append(item * 1.0)
        return into

    def logged(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            wrapper.calls = getattr(wrapper, "calls", 0) + 1
            return fn(*args, **kwargs) + 0.5
        return wrapper

    @logged
    def decorated(x):
        return x * 2.0

    def fails(x):
        y = x + 0.5
        raise ValueError(f"bad {y}")

    def where():
        frame = sys._getframe()
        return frame.f_code.co_qualname, frame.f_code.co_filename, frame.f_lineno

    class Box:
        scale = 3.0

        def __init__(self):
            self.items = []

        def put(self, x):
            self.items.append(x * 1.0)
            return self

        @classmethod
        def make(cls, x):
            return cls().put(x * 2.0)
''')
FILENAME = os.path.join(os.path.dirname(__file__), "immortal_copies_module.py")


_UNIQUE = itertools.count(1)  # one per module made, whatever thread makes it


def make_module() -> dict[str, Any]:
    """The functions above as an import from source makes them: compile() -> mortal constants.
    Each test makes its own (under pytest-run-parallel every thread does), since they mutate it."""
    namespace: dict[str, Any] = {"__name__": "immortal_copies_module"}
    # a float no other code holds: compile() may reuse an equal constant that is immortal already
    unique = repr(1000 + next(_UNIQUE) + random.random() / 2)
    exec(compile(SOURCE.replace("UNIQUE", unique), FILENAME, "exec"), namespace)
    namespace["UNIQUE_VALUE"] = float(unique)
    return namespace


def in_pool(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with ftpool.Pool(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result(timeout=30)


def in_worker(fn: Any, *args: Any, **kwargs: Any) -> ftpool.Worker:
    """Run ``fn`` itself as a Worker's target (the Worker copies its target; a wrapper around
    ``fn`` would be copied instead) and return the ended Worker."""
    worker = ftpool.Worker(fn, *args, **kwargs)
    worker.join(timeout=30)
    assert not worker.is_alive()
    return worker


RUNNERS = [pytest.param(in_pool, id="pool")]


@pytest.fixture(autouse=True, scope="module")
def _copies_on() -> Any:
    """The copies are off by default (see ftpool._immortal): these tests switch them on."""
    previous = _immortal.set_enabled(True)
    yield
    _immortal.set_enabled(previous)


# single_thread: 3.13t does not always immortalize a marshal-loaded constant while other threads
# compile code at the same moment (as the other copies of this test would)
@pytest.mark.single_thread
@free_threaded_only
def test_the_copy_has_immortal_constants_and_the_original_is_untouched() -> None:
    mod = make_module()
    fn = mod["uses_unique"]
    code = fn.__code__
    assert mortal_constants(code) == [mod["UNIQUE_VALUE"]], "compile() made a mortal constant"
    copy = run_copy(fn)
    assert copy is not fn
    assert mortal_constants(copy.__code__) == []
    assert fn.__code__ is code  # the user's function is unchanged
    assert mortal_constants(code)
    assert run_copy(fn) is copy  # cached: the next submit is a lookup
    assert copy(2.0) == fn(2.0)
    seen = in_pool(mod["constants_seen"])
    assert seen == [mod["UNIQUE_VALUE"]] * 2
    assert is_immortal(seen[0])  # the task ran the copy's code
    box: list[Any] = []
    in_worker(mod["record_constants"], box)
    assert box == [mod["UNIQUE_VALUE"]]
    assert is_immortal(box[0])


@pytest.mark.single_thread  # switches the copies off for the whole process for a moment
def test_on_a_gil_build_or_when_switched_off_the_function_itself_runs() -> None:
    mod = make_module()
    fn = mod["scaled"]
    if not free_threaded_build():
        assert not _immortal.immortal_copies_available()
        assert run_copy(fn) is fn
    previous = _immortal.set_enabled(False)
    try:
        assert run_copy(fn) is fn
        assert not _immortal.is_enabled()
    finally:
        _immortal.set_enabled(previous)
    with pytest.raises(TypeError, match="True or False"):
        _immortal.set_enabled("no")  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "on"), [(None, False), ("0", False), ("1", True)])
def test_the_environment_switch_turns_copies_on(value: str | None, on: bool) -> None:
    code = ("import ftpool._immortal as m; f = eval('lambda: 0.5');"
            "print(m.is_enabled(), m.run_copy(f) is f)")
    env = {k: v for k, v in os.environ.items() if k != "FTPOOL_IMMORTAL_CONSTANTS"}
    if value is not None:
        env["FTPOOL_IMMORTAL_CONSTANTS"] = value
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    enabled, same = result.stdout.split()
    assert enabled == str(on and free_threaded_build())
    if not on:
        assert same == "True"  # off: the function itself runs


@pytest.mark.parametrize("runner", RUNNERS)
def test_defaults_kwdefaults_globals_and_dict_are_the_originals(runner: Any) -> None:
    mod = make_module()
    assert runner(mod["scaled"], 2.0) == 3.25
    assert runner(mod["scaled"], 2.0, 2.0, offset=1.0) == 5.0
    assert mod["counter"]["calls"] == 2  # the globals the copy writes are the module's
    assert runner(mod["globals_of"]) is mod
    appends = mod["appends"]
    runner(appends, 1)
    runner(appends, 2)
    assert appends.__defaults__[0] == [1.0, 2.0]  # the same mutable default object
    mod["scaled"].__defaults__ = (10.0,)  # reassigned after a first run: the copy follows
    mod["scaled"].__kwdefaults__ = {"offset": 0.0}
    assert runner(mod["scaled"], 1.0) == 10.0
    mod["scaled"].tag = "kept"
    assert run_copy(mod["scaled"]).tag == "kept"


@pytest.mark.parametrize("runner", RUNNERS)
def test_closures_recursion_and_decorated_functions_behave_as_before(runner: Any) -> None:
    mod = make_module()
    add = mod["make_counter"]()
    assert runner(add, 2) == 2.0
    assert runner(add, 3) == 5.0
    assert add(1) == 6.0  # the copy wrote the original's closure cell
    assert runner(mod["fact"], 5) == 120.0
    decorated = mod["decorated"]
    assert runner(decorated, 2) == 4.5
    assert decorated.calls == 1  # the attribute the wrapper set on itself is on the original
    assert run_copy(decorated).__wrapped__ is decorated.__wrapped__
    assert run_copy(decorated).__name__ == "decorated"


@pytest.mark.parametrize("runner", RUNNERS)
def test_bound_methods_classmethods_and_partials_keep_their_objects(runner: Any) -> None:
    mod = make_module()
    box = mod["Box"]()
    assert runner(box.put, 2) is box
    assert box.items == [2.0]
    made = runner(mod["Box"].make, 2)
    assert type(made) is mod["Box"]
    assert made.items == [4.0]
    partial = functools.partial(mod["scaled"], factor=3.0)
    assert runner(partial, 1.0) == 3.25
    nested = functools.partial(box.put)
    assert runner(nested, 5) is box
    assert box.items == [2.0, 5.0]
    tagged = functools.partial(mod["scaled"])
    tagged.note = "a partial with attributes is run as it is"
    assert run_copy(tagged) is tagged


@pytest.mark.parametrize("runner", RUNNERS)
def test_names_files_and_lines_are_the_originals(runner: Any) -> None:
    mod = make_module()
    qualname, filename, line = runner(mod["where"])
    assert (qualname, filename) == ("where", FILENAME)
    assert line == mod["where"].__code__.co_firstlineno + 2
    copy = run_copy(mod["where"])
    for name in ("__name__", "__qualname__", "__module__", "__doc__"):
        assert getattr(copy, name) == getattr(mod["where"], name)
    assert run_copy(mod["scaled"]).__doc__ == "a docstring"


def test_worker_targets_keep_closures_defaults_globals_methods_and_partials() -> None:
    mod = make_module()
    add = mod["make_counter"]()
    in_worker(add, 2)
    assert add(0) == 2.0  # the copy wrote the original's closure cell
    in_worker(mod["appends"], 1)
    assert mod["appends"].__defaults__[0] == [1.0]
    in_worker(mod["scaled"], 1.0, offset=2.0)
    assert mod["counter"]["calls"] == 1
    box = mod["Box"]()
    in_worker(box.put, 3)
    in_worker(functools.partial(box.put, 4))
    assert box.items == [3.0, 4.0]
    in_worker(mod["decorated"], 1)
    assert mod["decorated"].calls == 1


# no "error" listener: the exception also goes to threading.excepthook, as documented
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_worker_target_has_the_original_traceback() -> None:
    mod = make_module()
    failed = in_worker(mod["fails"], 1)
    assert failed.exit_code == 1
    last = traceback.extract_tb(failed.exception.__traceback__)[-1]
    assert (last.filename, last.name) == (FILENAME, "fails")
    assert last.lineno == mod["fails"].__code__.co_firstlineno + 2


def test_a_failing_task_has_the_original_traceback() -> None:
    mod = make_module()
    with ftpool.Pool(max_workers=1) as pool:
        future = pool.submit(mod["fails"], 1)
        with pytest.raises(ValueError, match=r"bad 1\.5") as info:
            future.result(timeout=30)
    frames = traceback.extract_tb(info.value.__traceback__)
    last = frames[-1]
    assert last.filename == FILENAME
    assert last.name == "fails"
    assert last.lineno == mod["fails"].__code__.co_firstlineno + 2


def test_equal_code_from_two_files_keeps_each_its_own_file_name() -> None:
    # code objects compare equal whatever their file: the copies must not be shared
    source = "def twin(x):\n    return x * 7.123456789\n"
    copies = []
    for filename in ("first_twin.py", "second_twin.py"):
        namespace: dict[str, Any] = {}
        exec(compile(source, filename, "exec"), namespace)
        copies.append(run_copy(namespace["twin"]))
    assert [c.__code__.co_filename for c in copies] == ["first_twin.py", "second_twin.py"]


def test_other_callables_are_run_as_they_are() -> None:
    class Callable:
        def __call__(self) -> int:
            return 1

    thing = Callable()
    for fn in (len, thing, Callable, functools.partial(len), print):
        assert run_copy(fn) is fn


def test_the_caches_keep_nothing_alive() -> None:
    mod = make_module()
    box = mod["Box"]()
    in_pool(box.put, 1)
    in_pool(functools.partial(mod["scaled"], box.items and 1.0))
    box_ref = weakref.ref(box)
    fn = mod["scaled"]
    run_copy(fn)
    fn_ref = weakref.ref(fn)
    immortal_function = is_immortal(fn)  # 3.13t makes functions immortal once a thread started
    del box, fn
    mod.clear()
    gc.collect()
    assert box_ref() is None  # no bound method or partial is cached
    if not immortal_function:
        assert fn_ref() is None


def test_a_code_object_marshal_cannot_write_runs_unchanged() -> None:
    def base() -> object:
        return 0.5

    code = base.__code__.replace(co_consts=(None, 0.5, object()))
    odd = FunctionType(code, {})
    assert run_copy(odd) is odd  # marshal refuses the object() constant: the original runs
    assert in_pool(odd) == 0.5
