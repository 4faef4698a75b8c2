"""Snapshots as text: ``format_ps`` (a row per task) and ``format_pstree`` (a tree).

Both take a ``Snapshot`` or its ``to_dict()`` (what the monitor endpoint sends), so
``python -m coroloop ps PID`` and a test calling ``format_ps(snapshot())`` print the
same thing.  ``top`` builds its table from ``ps_rows``.

The tree nests each task under the task awaiting it (``├──``); a task nobody awaits
goes under the task that spawned it, drawn with a dotted branch (``├┄┄``) and
marked ``spawned``; the rest are roots.  A task met again -- awaited by two tasks,
or in an await cycle (a task awaiting itself, two gathers awaiting each other) -- is
printed once and referred to afterwards (``↻ #3 ... cycle`` / ``... shown above``),
so every cycle is shown and none is looped over.
"""

from __future__ import annotations

import os

__all__ = ["SORT_KEYS", "format_duration", "format_ps", "format_pstree", "ps_rows",
           "snapshot_dict"]

#: top/ps orders: name -> (column title, key of a row, largest first).
SORT_KEYS = {
    "wait": "time in the current wait",
    "run": "run time (seconds spent in steps)",
    "steps": "steps taken",
}
_NAME_WIDTH = 28
_TARGET_WIDTH = 40


def snapshot_dict(snapshot) -> dict:
    """*snapshot* as a dict: a ``Snapshot`` (``to_dict()``) or a dict already."""
    if isinstance(snapshot, dict):
        return snapshot
    to_dict = getattr(snapshot, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"expected a coroloop.debug.Snapshot or its to_dict(), got "
                        f"{type(snapshot).__name__}")
    return to_dict()


def format_duration(seconds) -> str:
    """``12.3ms``, ``4.56s``, ``2m05s``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _place(frames) -> str:
    if not frames:
        return "-"
    filename, lineno, function = frames[-1][:3]
    return f"{os.path.basename(filename)}:{lineno} {function}"


def _waited(task: dict, now) -> float | None:
    wait = task.get("wait")
    if not wait or wait.get("since") is None or now is None:
        return None
    return now - wait["since"]


def ps_rows(snapshot, *, sort: str | None = None) -> list[dict]:
    """One row (a dict of display strings plus the raw sort values) per task."""
    data = snapshot_dict(snapshot)
    now = data.get("time")
    rows = []
    for task in data["tasks"]:
        wait = task.get("wait") or {}
        waited = _waited(task, now)
        rows.append({
            "id": str(task["id"]), "name": _clip(str(task["name"]), _NAME_WIDTH),
            "state": task["state"], "wait": wait.get("kind", "-"),
            "target": _clip(str(wait.get("target") or "-"), _TARGET_WIDTH),
            "waited": format_duration(waited), "run": format_duration(task.get("run_time")),
            "steps": str(task.get("steps", 0)), "created": _place(task.get("created_at")),
            "_wait": waited or 0.0, "_run": task.get("run_time") or 0.0,
            "_steps": task.get("steps") or 0, "_id": task["id"],
        })
    if sort is not None:
        if sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {sort!r}: one of {', '.join(SORT_KEYS)}")
        rows.sort(key=lambda row: (-row["_" + sort], row["_id"]))
    return rows


#: ps's columns: (title, row key, right-aligned).
PS_COLUMNS = (("ID", "id", True), ("NAME", "name", False), ("STATE", "state", False),
              ("WAIT", "wait", False), ("TARGET", "target", False),
              ("WAITED", "waited", True), ("RUN", "run", True), ("STEPS", "steps", True),
              ("CREATED AT", "created", False))


def format_table(rows: list[dict], columns=PS_COLUMNS) -> str:
    """*rows* as aligned text columns under a header line."""
    widths = [max([len(title)] + [len(row[key]) for row in rows]) for title, key, _ in columns]

    def line(cells):
        out = [cell.rjust(width) if right else cell.ljust(width)
               for cell, width, (_, _, right) in zip(cells, widths, columns)]
        return "  ".join(out).rstrip()

    lines = [line([title for title, _, _ in columns])]
    lines.extend(line([row[key] for _, key, _ in columns]) for row in rows)
    return "\n".join(lines)


def format_ps(snapshot, *, sort: str | None = None) -> str:
    """A table with one row per task: id, name, state, wait kind and target, time in
    that wait, run time, steps, where it was created (innermost frame)."""
    data = snapshot_dict(snapshot)
    rows = ps_rows(data, sort=sort)
    count = len(rows)
    return format_table(rows) + f"\n{count} task{'s' if count != 1 else ''}"


def _task_line(task: dict, now) -> str:
    head = f"#{task['id']} {task['name']} [{task['state']}] {task.get('coro') or '?'}"
    wait = task.get("wait")
    if wait:
        target = wait.get("target")
        head += f" - {wait.get('kind')}" + (f" {target}" if target else "")
        waited = _waited(task, now)
        if waited is not None:
            head += f" for {format_duration(waited)}"
        if wait.get("holder") is not None:
            head += f" (held by #{wait['holder']})"
    if task.get("cancel_requests"):
        head += f" cancel requested x{task['cancel_requests']}"
    return head


def format_pstree(snapshot, *, stacks: bool = True) -> str:
    """The tasks as a tree: nested under who awaits them (``──``) or, when nobody
    does, who spawned them (``┄┄``, marked ``spawned``), each with its wait reason
    and (with *stacks*) its await stack, innermost last.  Cycles are shown once."""
    data = snapshot_dict(snapshot)
    now = data.get("time")
    tasks = {task["id"]: task for task in data["tasks"]}
    children: dict[int, list[tuple[int, str]]] = {task_id: [] for task_id in tasks}
    has_parent = set()
    for task_id, task in tasks.items():
        awaiters = [a for a in task.get("awaited_by") or () if a in tasks]
        for awaiter in awaiters:
            children[awaiter].append((task_id, "awaited"))
        if awaiters:
            has_parent.add(task_id)
        elif task.get("spawned_by") in tasks:
            children[task["spawned_by"]].append((task_id, "spawned"))
            has_parent.add(task_id)
    lines: list[str] = []
    shown: set[int] = set()

    def draw(task_id: int, prefix: str, branch: str, via: str, path: tuple) -> None:
        task = tasks[task_id]
        if branch:
            connector = ("└" if branch == "last" else "├") + ("┄┄ " if via == "spawned" else "── ")
        else:
            connector = ""
        mark = " (spawned)" if via == "spawned" else ""
        if task_id in path:
            lines.append(f"{prefix}{connector}↻ #{task_id} {task['name']}{mark}: "
                         "an await cycle (shown above)")
            return
        if task_id in shown:
            lines.append(f"{prefix}{connector}#{task_id} {task['name']}{mark}: shown above")
            return
        shown.add(task_id)
        lines.append(f"{prefix}{connector}{_task_line(task, now)}{mark}")
        inner = prefix + ("" if not branch else ("    " if branch == "last" else "│   "))
        kids = sorted(children[task_id])
        if stacks:
            bar = "│ " if kids else "  "
            for filename, lineno, function, *_ in task.get("stack") or ():
                lines.append(f"{inner}{bar}  at {function} ({os.path.basename(filename)}:{lineno})")
        for n, (child, child_via) in enumerate(kids):
            draw(child, inner, "last" if n == len(kids) - 1 else "mid", child_via,
                 path + (task_id,))

    for task_id in sorted(tasks):
        if task_id not in has_parent:
            draw(task_id, "", "", "", ())
    # What is left is only reachable through cycles (every task of it has a parent).
    for task_id in sorted(tasks):
        if task_id not in shown:
            lines.append(f"(an await cycle, entered at #{task_id})")
            draw(task_id, "", "", "", ())
    count = len(tasks)
    lines.append(f"{count} task{'s' if count != 1 else ''}; ── awaited by the task above, "
                 "┄┄ spawned by it")
    return "\n".join(lines)
