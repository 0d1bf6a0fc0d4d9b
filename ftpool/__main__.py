"""Command line: ``python -m ftpool info`` and ``python -m ftpool demo NAME [--scale S]``."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys

from . import runtime
from .demos import DEMOS


def _info(_: argparse.Namespace) -> int:
    info = runtime()
    for field in dataclasses.fields(info):
        print(f"{field.name:20} {getattr(info, field.name)}")
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
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
