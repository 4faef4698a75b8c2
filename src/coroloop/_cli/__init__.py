"""``python -m coroloop [COMMAND] ...``: a small registry of subcommands.

Each command is a module with ``HELP`` (one line, listed by ``--help``: at most
``HELP_WIDTH`` characters, so the listing stays one line a command at 80 columns),
``configure(parser)`` (adds its arguments to its argparse subparser) and
``main(args) -> int`` (the exit status).  Adding a command is one line in
``COMMANDS``; with no command, ``DEFAULT`` runs (the REPL).

Command modules are imported only when the parser is built, so ``import coroloop``
never pays for the command line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["COMMANDS", "DEFAULT", "HELP_WIDTH", "build_parser", "main"]

#: name -> module implementing it, in the order ``--help`` lists them.
COMMANDS: dict[str, str] = {
    "repl": "coroloop._cli.repl",
    "run": "coroloop._cli.run",
    "info": "coroloop._cli.info",
    "trace": "coroloop.debug._trace_command",
    "timeline": "coroloop.debug._timeline_command",
    # -- attaching to a running program (issue 10: the monitor endpoint) --
    "ps": "coroloop.debug._monitor_cli.ps",
    "pstree": "coroloop.debug._monitor_cli.pstree",
    "top": "coroloop.debug._monitor_cli.top",
    "dump": "coroloop.debug._monitor_cli.dump",
    "cancel": "coroloop.debug._monitor_cli.cancel",
}

#: The command that runs when none is named (``python -m coroloop``).
DEFAULT = "repl"

#: The longest ``HELP`` that ``--help`` prints on one line in an 80-column terminal.
HELP_WIDTH = 56


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m coroloop``, one subparser per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="python -m coroloop",
        description="coroloop's command line: asyncio, written from scratch in Python. "
                    f"With no command, starts the {DEFAULT} command.")
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"coroloop {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(sub)
        sub.set_defaults(command_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse *argv* (default ``sys.argv[1:]``), run the command, return its exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        args = parser.parse_args([DEFAULT])
    try:
        return args.command_main(args)
    except BrokenPipeError:
        # Output piped into a reader that stopped early (`| head`): not an error to
        # report.  Point stdout at /dev/null so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
