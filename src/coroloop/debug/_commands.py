"""``python -m coroloop trace`` and ``python -m coroloop timeline``.

Each command is a class with ``HELP`` (one line for ``--help``), ``configure(parser)``
(its argparse arguments) and ``main(args) -> int`` (the exit status), the shape of
the command-line registry's entries.

``trace -o trace.json SCRIPT [ARGS]`` runs an asyncio program on coroloop (its
policy is installed first, so ``asyncio.run()`` makes coroloop loops) and records
every loop the program creates into one trace, written when the program ends --
also when it fails or exits, so the trace of a crash is kept.
``timeline trace.json -o timeline.html`` draws a trace as a self-contained page.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback

import coroloop

from .timeline import write_timeline
from .trace import record_trace

__all__ = ["COMMANDS", "TimelineCommand", "TraceCommand", "run_command"]


class TraceCommand:
    HELP = "record a program's timeline as a Chrome trace (Perfetto)"

    @staticmethod
    def configure(parser) -> None:
        parser.usage = "%(prog)s [-o FILE] (SCRIPT | -m MODULE) [ARGS ...]"
        parser.add_argument("-o", "--output", default="trace.json", metavar="FILE",
                            help="where to write the trace (default: trace.json)")
        parser.add_argument("-m", dest="as_module", action="store_true",
                            help="the target is a module name, run as by python -m MODULE")
        parser.add_argument("target", metavar="SCRIPT | MODULE", help="the program to run")
        parser.add_argument("program_args", metavar="ARGS", nargs="...",
                            help="arguments passed to the program as sys.argv[1:]")

    @staticmethod
    def main(args) -> int:
        if not args.as_module and not os.path.exists(args.target):
            print(f"python -m coroloop trace: can't open file {args.target!r}: no such file "
                  "(to trace a module, use trace -m MODULE)", file=sys.stderr)
            return 2
        try:
            recording = record_trace(args.output)
        except OSError as exc:
            print(f"python -m coroloop trace: {exc}", file=sys.stderr)
            return 2
        coroloop.install()
        status = 0
        recording.start()
        try:
            _run_program(args)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException as exc:  # the program's own failure: shown as python shows it
            traceback.print_exception(type(exc), exc, _program_frames(exc.__traceback__))
            status = 1
        finally:
            recording.stop()
        events = sum(r.event_count for r in recording.recorders)
        print(f"coroloop: recorded {events} events from {len(recording.recorders)} loop(s) "
              f"to {args.output} (open it in https://ui.perfetto.dev or run "
              f"python -m coroloop timeline {args.output})", file=sys.stderr)
        return status


class TimelineCommand:
    HELP = "draw a trace as one self-contained HTML page"

    @staticmethod
    def configure(parser) -> None:
        parser.add_argument("trace", metavar="TRACE", help="a trace written by trace / record_trace")
        parser.add_argument("-o", "--output", default=None, metavar="FILE",
                            help="the page to write (default: TRACE with .html)")
        parser.add_argument("--title", default=None, help="the page's title")

    @staticmethod
    def main(args) -> int:
        output = args.output or os.path.splitext(args.trace)[0] + ".html"
        try:
            write_timeline(args.trace, output, title=args.title)
        except (OSError, ValueError) as exc:
            print(f"python -m coroloop timeline: {exc}", file=sys.stderr)
            return 2
        print(f"coroloop: wrote {output}", file=sys.stderr)
        return 0


def _run_program(args) -> None:
    """Run the target as ``__main__``, with the argv and sys.path python would give it."""
    if args.as_module:
        sys.argv = [args.target, *args.program_args]
        runpy.run_module(args.target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [args.target, *args.program_args]
        sys.path.insert(0, os.path.dirname(os.path.abspath(args.target)))
        runpy.run_path(args.target, run_name="__main__")


def _program_frames(tb):
    """The traceback from the program's first frame (not this module's or runpy's)."""
    while tb is not None and tb.tb_frame.f_globals.get("__name__") in (__name__, "runpy"):
        tb = tb.tb_next
    return tb


COMMANDS = {"trace": TraceCommand, "timeline": TimelineCommand}


def run_command(argv) -> int:
    """Parse ``COMMAND ARGS`` for one of ``COMMANDS`` and run it (its exit status)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m coroloop")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.HELP, description=command.HELP)
        command.configure(sub)
        sub.set_defaults(command_main=command.main)
    args = parser.parse_args(argv)
    return args.command_main(args)
