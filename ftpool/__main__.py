"""Command line: ``python -m ftpool info``, ``python -m ftpool demo NAME [--scale S]`` and
``python -m ftpool doctor MODULE:FUNCTION [--args JSON] [--threads N] [--json] [--plot FILE.png]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import sys
import traceback
from typing import Any

from . import runtime
from .demos import DEMOS


def _info(_: argparse.Namespace) -> int:
    info = runtime()
    for field in dataclasses.fields(info):
        if field.name != "traps":
            print(f"{field.name:20} {getattr(info, field.name)}")
    if not info.traps:
        print(f"{'traps':20} none (nothing process-wide stands in the way of scaling)")
    for trap in info.traps:
        print(f"{'trap':20} {trap.code}: {trap.message}\n{'':20} fix: {trap.fix}")
    return 0


def _load_target(spec: str) -> Any:
    """MODULE:FUNCTION (FUNCTION may be dotted, e.g. Class.method) -> the object."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"ftpool doctor: give MODULE:FUNCTION (e.g. mymodule:work), got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"ftpool doctor: cannot import {module_name!r} ({exc}); run from the "
                         "directory that holds it, or set PYTHONPATH") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise SystemExit(f"ftpool doctor: {module_name} has no {attr!r}") from None
    if not callable(target):
        raise SystemExit(f"ftpool doctor: {spec} is a {type(target).__name__}, not callable")
    return target


def _doctor(args: argparse.Namespace) -> int:
    from ._doctor import doctor, plot  # noqa: PLC0415 - only this command needs it

    if args.plot and importlib.util.find_spec("matplotlib") is None:  # before measuring
        print("ftpool doctor: --plot needs matplotlib: pip install matplotlib", file=sys.stderr)
        return 2
    try:
        call_args = json.loads(args.args)
    except ValueError as exc:
        print(f"ftpool doctor: --args is not JSON ({exc}); e.g. --args '[1000, 2.5]' or "
              "--args '{\"n\": 1000}'", file=sys.stderr)
        return 2
    if isinstance(call_args, list):
        positional, keywords = call_args, {}
    elif isinstance(call_args, dict):
        positional, keywords = [], call_args
    else:
        print("ftpool doctor: --args must be a JSON list (positional arguments) or object "
              f"(keyword arguments), got {type(call_args).__name__}", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        print(f"ftpool doctor: --threads needs at least 1, got {args.threads}", file=sys.stderr)
        return 2
    try:
        target = _load_target(args.target)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        report = doctor(target, *positional, threads=args.threads, **keywords)
    except Exception:
        print(f"ftpool doctor: {args.target} raised:", file=sys.stderr)
        traceback.print_exc()
        return 1
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report)
    if args.plot:
        plot(report, args.plot)
        if not args.json:
            print(f"wrote {args.plot}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.list or args.name is None:
        width = max((len(name) for name in DEMOS), default=0)
        for name, (_, description) in DEMOS.items():
            print(f"{name:{width}}  {description}")
        return 0 if args.list else 2
    if args.name not in DEMOS:
        known = ", ".join(DEMOS) or "(none yet)"
        print(f"ftpool: unknown demo {args.name!r}; choose one of: {known}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"ftpool.demos.{DEMOS[args.name][0]}")
    result: int = module.main(args.rest)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m ftpool", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print ftpool.runtime(): build, GIL, cores, backend")
    info.set_defaults(func=_info)
    demo = commands.add_parser("demo", help="run one of the seed article's scenarios")
    demo.add_argument("name", nargs="?", help="the demo to run (see --list)")
    demo.add_argument("--list", action="store_true", help="list the demos")
    demo.add_argument("rest", nargs=argparse.REMAINDER, help="options for the demo (--scale S)")
    demo.set_defaults(func=_demo)
    check = commands.add_parser(
        "doctor", help="measure how a function scales on threads and say why it does not",
        description="Run MODULE:FUNCTION on 1 thread and on N threads (plain threads and an "
        "ftpool Pool), print speedup and efficiency, and the traps that apply (gil-build, "
        "gil-enabled, few-cores, mortal-constants, no-bytecode-cache). Exit 0; 1 when the "
        "function raised; 2 for bad arguments.")
    check.add_argument("target", metavar="MODULE:FUNCTION")
    check.add_argument("--args", default="[]", metavar="JSON",
                       help="arguments: a JSON list (positional) or object (keywords)")
    check.add_argument("--threads", type=int, default=None, metavar="N",
                       help="threads to compare with 1 (default: the usable cores, at least 2)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--plot", metavar="FILE.png", help="draw the speedups (needs matplotlib)")
    check.set_defaults(func=_doctor)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
