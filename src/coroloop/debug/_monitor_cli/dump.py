"""``python -m coroloop dump PID``: a running program's snapshot as JSON."""

from __future__ import annotations

import json
import sys

from ._attach import MonitorError, add_target_arguments, connect, fail, request_snapshot

__all__ = ["HELP", "configure", "main"]

HELP = "print a running program's task snapshot as JSON (PID)"


def configure(parser) -> None:
    add_target_arguments(parser)
    parser.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="write the JSON to FILE instead of standard output")


def main(args) -> int:
    """The whole ``snapshot`` reply: ``state``, ``loop`` and ``snapshot`` (or, for a
    blocked loop, ``blocked_ms`` and ``stack``)."""
    try:
        with connect(args) as client:
            reply = request_snapshot(client, args)
    except (MonitorError, OSError) as exc:
        return fail("dump", exc)
    text = json.dumps(reply, indent=1)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0
