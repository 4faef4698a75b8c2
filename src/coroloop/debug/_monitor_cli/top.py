"""``python -m coroloop top PID``: a live view of a running program's tasks.

Refreshed every ``--interval`` seconds: the header gives the task count by state,
the loop's lag (how long the endpoint's request waited for the loop) and its
iterations per second (from two refreshes' iteration counts); the table is ``ps``'s,
sorted by wait time, run time or steps.  At a terminal, keys ``w``/``r``/``s``
change the order and ``q`` quits.  Drawn with ``rich`` when it is installed
(``pip install 'coroloop[cli]'``), as plain text otherwise (or with ``--plain``).
"""

from __future__ import annotations

import collections
import os
import select
import shutil
import sys
import termios
import time
import tty

from ..formatting import PS_COLUMNS, SORT_KEYS, format_table, ps_rows

from ._attach import (MonitorError, add_target_arguments, connect, describe_unanswered,
                      fail, request_snapshot)

__all__ = ["HELP", "configure", "main"]

HELP = "a live view of a running program's tasks (PID)"

_KEYS: dict[str | None, str] = {"w": "wait", "r": "run", "s": "steps"}


def configure(parser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--sort", choices=list(SORT_KEYS), default="wait",
                        help="order: wait time, run time or steps (default: wait)")
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                        help="seconds between refreshes (default 1)")
    parser.add_argument("-n", "--count", type=int, default=None, metavar="N",
                        help="stop after N refreshes (default: until q or Ctrl-C)")
    parser.add_argument("--plain", action="store_true",
                        help="plain text even when rich is installed")


class _Rate:
    """Iterations per second between two refreshes."""

    def __init__(self) -> None:
        self._last: tuple[float, int] | None = None

    def update(self, iterations: int) -> float | None:
        now = time.monotonic()
        last, self._last = self._last, (now, iterations)
        if last is None or now <= last[0]:
            return None
        return (iterations - last[1]) / (now - last[0])


def _header(reply: dict, pid: int, rate, sort: str, refresh: int) -> str:
    loop = reply["loop"]
    parts = [f"coroloop top - pid {pid} - refresh {refresh}"]
    if reply["state"] == "ok":
        states = collections.Counter(task["state"] for task in reply["snapshot"]["tasks"])
        total = sum(states.values())
        parts.append(f"{total} tasks (" + ", ".join(f"{n} {state}" for state, n
                                                    in sorted(states.items())) + ")")
        parts.append(f"loop lag {loop['lag_ms']:.2f} ms")
    parts.append(f"{rate:.0f} iterations/s" if rate is not None else "- iterations/s")
    parts.append(f"sorted by {sort} (keys: w r s, q quits)")
    return " | ".join(parts)


class _Keys:
    """Single keys from a terminal on stdin (cbreak mode, restored on close)."""

    def __init__(self) -> None:
        self.fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
        self._saved = None
        if self.fd is not None:
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)

    def wait(self, seconds: float) -> str | None:
        """A key pressed within *seconds* (then at once), else None after them."""
        if self.fd is None:
            time.sleep(seconds)
            return None
        ready, _, _ = select.select([self.fd], [], [], seconds)
        return os.read(self.fd, 1).decode(errors="replace") if ready else None

    def close(self) -> None:
        if self._saved is not None:  # (only saved when fd is set)
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)  # type: ignore[arg-type]


def _plain_screen(header: str, body: str, tty_out: bool) -> None:
    if tty_out:
        sys.stdout.write("\x1b[H\x1b[J")  # home, clear: redraw in place
    sys.stdout.write(header + "\n" + body + "\n")
    if not tty_out:
        sys.stdout.write("\n")
    sys.stdout.flush()


def _rich_view():
    """A function drawing one refresh with rich, or None when rich is missing."""
    try:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.table import Table
        from rich.text import Text
    except ImportError:
        return None, None
    console = Console()
    live = Live(console=console, auto_refresh=False, transient=False)

    def draw(header: str, reply: dict, rows, pid: int) -> None:
        if rows is None:
            body: Text | Table = Text(describe_unanswered(reply, pid), style="bold red")
        else:
            body = Table(box=None, header_style="bold", pad_edge=False)
            for title, _, right in PS_COLUMNS:
                body.add_column(title, justify="right" if right else "left", no_wrap=True)
            for row in rows:
                style = "yellow" if row["state"] == "runnable" else None
                body.add_row(*(row[key] for _, key, _ in PS_COLUMNS), style=style)
        live.update(Group(Text(header, style="bold"), body), refresh=True)

    return live, draw


def main(args) -> int:
    if args.interval <= 0:
        return fail("top", ValueError("--interval must be more than 0 seconds"))
    live, draw = (None, None) if args.plain else _rich_view()
    tty_out = sys.stdout.isatty()
    sort = args.sort
    rate = _Rate()
    keys = None
    try:
        with connect(args) as client:
            keys = _Keys()
            if live is not None:
                live.start()
            refresh = 0
            while args.count is None or refresh < args.count:
                refresh += 1
                reply = request_snapshot(client, args, created_at=1, stack=0)
                header = _header(reply, args.pid, rate.update(reply["loop"]["iterations"]),
                                 sort, refresh)
                rows = None
                if reply["state"] == "ok":
                    height = shutil.get_terminal_size((100, 40)).lines - 3 if tty_out else None
                    rows = ps_rows(reply["snapshot"], sort=sort)[:height]
                if draw is not None:
                    draw(header, reply, rows, args.pid)
                else:
                    body = (format_table(rows) if rows is not None
                            else describe_unanswered(reply, args.pid))
                    _plain_screen(header, body, tty_out)
                if args.count is not None and refresh >= args.count:
                    break
                key = keys.wait(args.interval)
                if key == "q":
                    break
                sort = _KEYS.get(key, sort)
    except KeyboardInterrupt:
        pass
    except (MonitorError, OSError) as exc:
        return fail("top", exc)
    finally:
        if live is not None:
            live.stop()
        if keys is not None:
            keys.close()
    return 0
