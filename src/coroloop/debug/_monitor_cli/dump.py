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
    text = _as_json(reply)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


def _as_json(reply: dict) -> str:
    """*reply* as JSON text, one task per line: readable, diffable with ``grep``, and
    written by json's C encoder (``indent=`` would take its pure-Python one, seconds
    for 10,000 tasks)."""
    snapshot = reply.get("snapshot")
    if not isinstance(snapshot, dict) or "tasks" not in snapshot:
        return json.dumps(reply, indent=1)
    compact = json.JSONEncoder(separators=(", ", ": ")).encode
    head = {key: value for key, value in reply.items() if key != "snapshot"}
    facts = {key: value for key, value in snapshot.items() if key != "tasks"}
    lines = ["{"]
    lines.extend(f" {compact(key)}: {compact(value)}," for key, value in head.items())
    lines.append(' "snapshot": {')
    lines.extend(f"  {compact(key)}: {compact(value)}," for key, value in facts.items())
    tasks = snapshot["tasks"]
    lines.append('  "tasks": [' if tasks else '  "tasks": []')
    if tasks:
        last = len(tasks) - 1
        lines.extend(f"   {compact(task)}{',' if n < last else ''}"
                     for n, task in enumerate(tasks))
        lines.append("  ]")
    lines.append(" }")
    lines.append("}")
    return "\n".join(lines)
