"""``python -m coroloop pstree PID``: a running program's tasks as a tree."""

from __future__ import annotations

from ..formatting import format_pstree

from ._attach import add_target_arguments, print_snapshot

__all__ = ["HELP", "configure", "main"]

HELP = "show a running program's tasks as an await tree (PID)"


def configure(parser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--no-stacks", dest="stacks", action="store_false",
                        help="leave out each task's await stack")


def main(args) -> int:
    return print_snapshot("pstree", args,
                          lambda snapshot: format_pstree(snapshot, stacks=args.stacks),
                          created_at=0, **({} if args.stacks else {"stack": 0}))
