"""What the commands that attach to a running program share (ps, pstree, top, dump,
cancel): the PID argument, the connection to its monitor endpoint
(``coroloop.debug.endpoint``), and how a blocked or idle loop is reported."""

from __future__ import annotations

import os
import sys

import coroloop

from ..endpoint import MonitorClient, MonitorError

__all__ = ["MonitorError", "add_target_arguments", "connect", "describe_unanswered",
           "fail", "print_snapshot", "request_snapshot"]


def add_target_arguments(parser) -> None:
    """``PID`` plus ``--socket`` and ``--timeout``."""
    parser.add_argument("pid", metavar="PID", type=int,
                        help="the process, started with COROLOOP_MONITOR=1, "
                             "python -m coroloop run --monitor, or coroloop.debug.serve()")
    parser.add_argument("--socket", metavar="PATH", default=None,
                        help="the endpoint's socket, if not the default one for PID")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="how long the loop may take to answer before it is "
                             "reported blocked (default 1)")


def connect(args) -> MonitorClient:
    return MonitorClient(args.pid, path=args.socket)


def fail(command: str, error: Exception) -> int:
    print(f"python -m coroloop {command}: {error}", file=sys.stderr)
    return 2


def request_snapshot(client: MonitorClient, args, *, expand: bool = True, **fields) -> dict:
    """The ``snapshot`` reply (``state`` ok, blocked or not_running); *fields* are
    the request's (``created_at``/``stack``: how many innermost frames to send);
    ``expand=False`` leaves the tasks as the endpoint's compact rows."""
    if args.timeout is not None:
        fields["timeout"] = args.timeout
    return client.request("snapshot", expand=expand, **fields)


def describe_unanswered(reply: dict, pid: int) -> str:
    """The text for a ``blocked`` or ``not_running`` reply."""
    if reply["state"] == "not_running":
        return f"process {pid}: its loop is not running (between runs, or stopped)"
    lines = [f"process {pid}: loop blocked for {reply['blocked_ms']:.0f} ms; "
             "its thread is at (innermost last):"]
    stack = reply["stack"]
    # From the callback or step the loop is running: the frames that start the loop
    # (the program's main, asyncio.run, the scheduler) are in dump's output.
    core = os.path.join(os.path.dirname(os.path.abspath(coroloop.__file__)), "_core", "")
    inside = [n for n, frame in enumerate(stack) if frame[0].startswith(core)]
    if inside and inside[-1] + 1 < len(stack):
        lines.append(f"  ... {inside[-1] + 1} frames that run the loop (dump shows them)")
        stack = stack[inside[-1] + 1:]
    for filename, lineno, function, source in stack:
        lines.append(f'  File "{filename}", line {lineno}, in {function}')
        if source:
            lines.append(f"    {source}")
    if not reply["stack"]:
        lines.append("  (its stack is not available)")
    return "\n".join(lines)


def print_snapshot(command: str, args, render, **fields) -> int:
    """One snapshot printed as ``render(snapshot)`` says (ps, pstree: they take the
    compact rows as they come), or what the loop is doing instead; the command's
    exit status."""
    try:
        with connect(args) as client:
            reply = request_snapshot(client, args, expand=False, **fields)
    except (MonitorError, OSError) as exc:
        return fail(command, exc)
    if reply["state"] != "ok":
        print(describe_unanswered(reply, args.pid))
        return 0
    print(render(reply["snapshot"]))
    return 0
