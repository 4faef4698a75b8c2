"""``python -m coroloop trace [-o FILE] [RUN OPTIONS] (SCRIPT | -m MODULE) [ARGS]``.

Runs the program as ``python -m coroloop run`` does (same options and arguments;
coroloop's policy installed first, so ``asyncio.run()`` makes coroloop loops) and
records every loop it creates into one trace (``coroloop.debug.record_trace``),
written when the program ends -- also when it fails or calls ``sys.exit()``, so
the trace of a crash is kept.  An entry of the command registry (``coroloop._cli``).
"""

from __future__ import annotations

import sys

from coroloop._cli import run

from .trace import record_trace

__all__ = ["HELP", "configure", "main"]

HELP = "record a program's timeline as a Chrome trace (Perfetto)"


def configure(parser) -> None:
    """``-o FILE``, then everything ``run`` takes."""
    parser.add_argument("-o", "--output", default="trace.json", metavar="FILE",
                        help="where to write the trace (default: trace.json)")
    run.configure(parser)
    parser.usage = "%(prog)s [-o FILE] [OPTIONS] (SCRIPT | -m MODULE) [ARGS ...]"


def main(args) -> int:
    try:
        recording = record_trace(args.output)
    except OSError as exc:
        print(f"python -m coroloop trace: {exc}", file=sys.stderr)
        return 2
    recording.start()
    try:
        return run.main(args)
    finally:
        recording.stop()
        events = sum(recorder.event_count for recorder in recording.recorders)
        print(f"coroloop: recorded {events} events from {len(recording.recorders)} loop(s) "
              f"to {args.output} (open it in https://ui.perfetto.dev or run "
              f"python -m coroloop timeline {args.output})", file=sys.stderr)
