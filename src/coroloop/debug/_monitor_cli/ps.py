"""``python -m coroloop ps PID``: one row per task of a running program."""

from __future__ import annotations

from ..formatting import SORT_KEYS, format_ps

from ._attach import add_target_arguments, print_snapshot

__all__ = ["HELP", "configure", "main"]

HELP = "list a running program's tasks (PID)"


def configure(parser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--sort", choices=list(SORT_KEYS), default=None,
                        help="order by wait time, run time or steps (largest first)")


def main(args) -> int:
    # The table shows each task's innermost creation frame and no stack.
    return print_snapshot("ps", args, lambda snapshot: format_ps(snapshot, sort=args.sort),
                          created_at=1, stack=0)
