"""``python -m coroloop timeline TRACE [-o FILE] [--title TITLE]``: a trace drawn as
one self-contained HTML page (``coroloop.debug.write_timeline``).  An entry of the
command registry (``coroloop._cli``)."""

from __future__ import annotations

import os
import sys

from .timeline import write_timeline

__all__ = ["HELP", "configure", "main"]

HELP = "draw a trace as one self-contained HTML page"


def configure(parser) -> None:
    parser.add_argument("trace", metavar="TRACE",
                        help="a trace written by python -m coroloop trace or record_trace")
    parser.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="the page to write (default: TRACE with .html)")
    parser.add_argument("--title", default=None, help="the page's title")


def main(args) -> int:
    output = args.output or os.path.splitext(args.trace)[0] + ".html"
    try:
        write_timeline(args.trace, output, title=args.title)
    except (OSError, ValueError) as exc:
        print(f"python -m coroloop timeline: {exc}", file=sys.stderr)
        return 2
    print(f"coroloop: wrote {output}", file=sys.stderr)
    return 0
