#!/usr/bin/env python3
"""How often the blocking detector catches a block, with the right frame.

Issue 9's requirement: at a 50 ms threshold, ``coroloop.debug.watch_blocking``
catches a 200 ms ``time.sleep`` inside a task, naming the line that calls
``time.sleep``, in at least 99 of 100 runs.  Each run is a fresh loop and watch;
the task blocks for real (that is what is measured), so this is a script, not a
unit test::

    .venv/bin/python benchmarks/blocking_catch_rate.py [--runs 100] [--threshold 0.05]
        [--block 0.2]

Prints one line per miss and a summary; exits 1 below --require (default 99%).
"""

from __future__ import annotations

import argparse
import sys
import time

import coroloop
from coroloop.debug import watch_blocking



async def _blocker(seconds: float) -> None:
    time.sleep(seconds)  # the culprit the report must name


BLOCKING_LINE = _blocker.__code__.co_firstlineno + 1


def one_run(threshold: float, block: float) -> tuple[bool, str]:
    reports = []

    async def main():
        with watch_blocking(threshold, on_block=reports.append):
            await coroloop.create_task(_blocker(block))

    loop = coroloop.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    callback_reports = [r for r in reports if r.kind == "callback"]
    if not callback_reports:
        return False, "no report"
    culprit = callback_reports[0].culprit
    if culprit is None or culprit[0] != __file__ or culprit[1] != BLOCKING_LINE:
        return False, f"wrong frame {culprit}"
    return True, f"{callback_reports[0].duration:.3f} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--threshold", type=float, default=0.05)
    parser.add_argument("--block", type=float, default=0.2)
    parser.add_argument("--require", type=float, default=0.99,
                        help="fraction of runs that must be caught (default 0.99)")
    args = parser.parse_args(argv)
    import logging
    logging.getLogger("coroloop.debug").setLevel(logging.CRITICAL)  # reports counted here
    caught = 0
    durations = []
    for run in range(1, args.runs + 1):
        ok, detail = one_run(args.threshold, args.block)
        if ok:
            caught += 1
            durations.append(float(detail.split()[0]))
        else:
            print(f"run {run}: missed ({detail})")
    durations.sort()
    median = durations[len(durations) // 2] if durations else float("nan")
    print(f"caught {caught}/{args.runs} blocks of {args.block * 1000:.0f} ms at a "
          f"{args.threshold * 1000:.0f} ms threshold with the right frame "
          f"({__file__.rsplit('/', 1)[-1]}:{BLOCKING_LINE}); reported after a median "
          f"{median * 1000:.0f} ms of blocking")
    return 0 if caught >= args.require * args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
