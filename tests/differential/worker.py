"""Runs a batch of generated programs on one runtime and prints their traces.

    python worker.py asyncio  < batch.json  > traces.jsonl
    python worker.py coroloop < batch.json  > traces.jsonl

The batch is ``{"programs": [{"id": ..., "source": ..., "io": bool}, ...]}``; for
each program one JSON line ``{"id": ..., "trace": [...]}`` is written.  Run by
``run.py`` under each interpreter (with ``src`` on PYTHONPATH); a program that
hangs in real time (a runtime bug, not a slow program: all waiting is virtual) is
interrupted after ``--hang-seconds`` and its trace ends with ``HANG``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from accepted import STDLIB_VIEW  # noqa: E402
from traces import Tracer, describe  # noqa: E402
from vloop import Stalled, new_loop  # noqa: E402


class Hang(BaseException):
    """Raised by SIGALRM when a program runs too long in real time."""


def _on_alarm(signum, frame):
    raise Hang()


def run_program(impl: str, source: str, io: bool, name: str = "<program>") -> list[str]:
    """Run one program's ``main()`` on a fresh virtual-time loop of *impl*."""
    if impl == "asyncio":
        aio = STDLIB_VIEW
    else:
        import coroloop as aio
    loop = new_loop(impl, io=io)
    tracer = Tracer(aio, loop)
    handled = []

    def on_error(loop, context):
        handled.append(f"handler {context.get('message')!r} "
                       f"{describe(context.get('exception'))}")

    loop.set_exception_handler(on_error)
    with tempfile.TemporaryDirectory(prefix="coroloop-diff-") as tmp:
        namespace = {"asyncio": aio, "T": tracer, "tk": tracer.tasks, "os": os,
                     "TMP": tmp, "__name__": "__program__"}
        main = None
        try:
            exec(compile(source, name, "exec"), namespace)
            aio.set_event_loop(loop)
            main = loop.create_task(namespace["main"]())
            tracer.set_main(main)
            loop.run_until_complete(main)
        except (Stalled, Hang) as exc:
            tracer.lines.append(f"{type(exc).__name__.upper()} {exc}")
        except BaseException as exc:
            tracer.lines.append(f"main raised {describe(exc)}")
        finally:
            aio.set_event_loop(None)
        tracer.report_tasks()
        try:
            loop.close()
        except BaseException as exc:
            tracer.lines.append(f"close raised {describe(exc)}")
    lines = tracer.lines
    del namespace, tracer, loop, main
    gc.collect()
    return lines + sorted(handled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("impl", choices=["asyncio", "coroloop"])
    parser.add_argument("--hang-seconds", type=float, default=20.0)
    args = parser.parse_args()
    batch = json.load(sys.stdin)
    signal.signal(signal.SIGALRM, _on_alarm)
    out = sys.stdout
    for program in batch["programs"]:
        signal.setitimer(signal.ITIMER_REAL, args.hang_seconds)
        try:
            trace = run_program(args.impl, program["source"], program.get("io", False),
                                f"<program {program['id']}>")
        except Hang:
            trace = ["HANG (outside the loop)"]
        except BaseException:
            trace = ["WORKER ERROR"] + traceback.format_exc().splitlines()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        out.write(json.dumps({"id": program["id"], "trace": trace}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
