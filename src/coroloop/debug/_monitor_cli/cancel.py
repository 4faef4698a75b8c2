"""``python -m coroloop cancel PID TASK_ID``: cancel one task of a running program
(its endpoint must allow it: ``serve(allow_cancel=True)`` or ``COROLOOP_MONITOR=cancel``)."""

from __future__ import annotations

from ._attach import MonitorError, add_target_arguments, connect, fail

__all__ = ["HELP", "configure", "main"]

HELP = "cancel a task of a running program (PID TASK_ID)"


def configure(parser) -> None:
    add_target_arguments(parser)
    parser.add_argument("task", metavar="TASK_ID", type=int, help="the task's id, from ps")
    parser.add_argument("--msg", default=None, help="the cancellation's message")


def main(args) -> int:
    fields = {"task": args.task}
    if args.msg is not None:
        fields["msg"] = args.msg
    if args.timeout is not None:
        fields["timeout"] = args.timeout
    try:
        with connect(args) as client:
            result = client.request("cancel", **fields)
    except (MonitorError, OSError) as exc:
        return fail("cancel", exc)
    if result["cancelled"]:
        print(f"cancel requested for task #{result['task']} {result['name']}")
        return 0
    print(f"task #{result['task']} {result['name']} could not be cancelled (it is finishing)")
    return 1
