"""``python -m coroloop run [OPTIONS] SCRIPT [ARGS]`` / ``run [OPTIONS] -m MODULE [ARGS]``.

Runs an unmodified asyncio program with coroloop's loop under it: coroloop's event
loop policy is installed before the program starts, so ``asyncio.run()``,
``asyncio.Runner()``, ``asyncio.new_event_loop()`` and ``asyncio.get_event_loop()``
all make coroloop loops.  The program sees itself as ``__main__`` with
``sys.argv == [SCRIPT, *ARGS]`` and the script's directory first on ``sys.path``
(for ``-m``: the current directory), as under ``python SCRIPT``.

Options before SCRIPT/``-m`` belong to coroloop; everything after goes to the program.
Each option is one entry of ``OPTIONS``: its flag, its help and a function that sets
it up before the program starts (the debugging tools add theirs there).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import runpy
import sys
import traceback
import warnings
from collections.abc import Callable

HELP = "run an asyncio program (SCRIPT or -m MODULE) on coroloop"

__all__ = ["HELP", "OPTIONS", "RunOption", "configure", "main"]


@dataclasses.dataclass(frozen=True)
class RunOption:
    """A ``run`` flag: ``enable(args)`` runs before the program when the flag is given.

    ``enable`` is a function, or ``"module:function"`` imported only when the flag
    is given (how the debugging tools above this layer plug in, as ``COMMANDS`` do).

    ``argument`` holds the rest of ``add_argument``'s keywords: a plain switch by
    default; e.g. ``{"nargs": "?", "const": "127.0.0.1:0", "metavar": "ADDRESS"}`` for
    a flag with an optional value (``enable`` reads it from ``args``).
    """

    flag: str
    help: str
    enable: Callable[[object], None] | str
    argument: dict = dataclasses.field(default_factory=lambda: {"action": "store_true"})

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments that holds this flag's value."""
        return self.flag.lstrip("-").replace("-", "_")


def _enable_debug(args) -> None:
    # asyncio's debug mode, as PYTHONASYNCIODEBUG=1 gives it: every loop the program
    # makes starts in debug mode (child processes inherit the variable too), asyncio's
    # logger says everything, and ResourceWarnings are shown unless -W says otherwise.
    os.environ["PYTHONASYNCIODEBUG"] = "1"
    logging.getLogger("asyncio").setLevel(logging.DEBUG)
    if not sys.warnoptions:
        warnings.simplefilter("default", ResourceWarning)


#: coroloop's own flags of ``run``, in the order ``run --help`` lists them.
OPTIONS: list[RunOption] = [
    RunOption("--debug", "asyncio's debug mode on every loop (as PYTHONASYNCIODEBUG=1): "
              "slow callbacks, never-awaited coroutines and unclosed resources are reported",
              _enable_debug),
    # -- the monitor endpoint (issue 10) --
    RunOption("--monitor", "serve python -m coroloop ps/pstree/top/dump PID (a Unix "
              "socket only this user and root may use; as COROLOOP_MONITOR=1)",
              "coroloop.debug._monitor_cli:enable_monitor"),
    RunOption("--monitor-allow-cancel", "--monitor, and also honour python -m coroloop "
              "cancel PID TASK_ID", "coroloop.debug._monitor_cli:enable_monitor"),
]


def configure(parser) -> None:
    """``run``'s arguments: the ``OPTIONS`` flags, ``-m``, the target, its arguments."""
    parser.usage = "%(prog)s [OPTIONS] (SCRIPT | -m MODULE) [ARGS ...]"
    for option in OPTIONS:
        parser.add_argument(option.flag, dest=option.dest, help=option.help, **option.argument)
    parser.add_argument("-m", dest="as_module", action="store_true",
                        help="the target is a module name, run as by python -m MODULE")
    parser.add_argument("target", metavar="SCRIPT | MODULE",
                        help="the program to run: a file, or a module with -m")
    parser.add_argument("program_args", metavar="ARGS", nargs="...",
                        help="arguments passed to the program as sys.argv[1:]")


def main(args) -> int:
    """Set up the options and coroloop's policy, then run the program as ``__main__``."""
    import coroloop

    for option in OPTIONS:
        if getattr(args, option.dest) not in (None, False):
            enable = option.enable
            if isinstance(enable, str):
                module, _, name = enable.partition(":")
                enable = getattr(importlib.import_module(module), name)
            enable(args)
    coroloop.install()
    try:
        if args.as_module:
            sys.argv = [args.target, *args.program_args]  # run_module puts the path in [0]
            runpy.run_module(args.target, run_name="__main__", alter_sys=True)
        else:
            script = args.target
            if not os.path.exists(script):
                print(f"python -m coroloop run: can't open file {script!r}: "
                      "no such file (to run a module, use run -m MODULE)", file=sys.stderr)
                return 2
            sys.argv = [script, *args.program_args]
            sys.path[0] = os.path.dirname(os.path.abspath(script))
            runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        _print_program_traceback(exc)
        return 1
    return 0


def _print_program_traceback(exc: BaseException) -> None:
    """The traceback as ``python SCRIPT`` prints it: without this runner's and runpy's
    frames in front of the program's own."""
    ours = {__name__, "runpy"}
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__") in ours:
        tb = tb.tb_next
    if tb is None:  # the program never started: e.g. runpy found no such module
        print(f"python -m coroloop run: {exc}", file=sys.stderr)
        return
    traceback.print_exception(type(exc), exc, tb)
