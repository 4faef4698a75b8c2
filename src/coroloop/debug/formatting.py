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

from ._tool import gc_paused

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
    """*snapshot* as a dict: a ``Snapshot`` (``to_dict()``) or a dict already (the
    endpoint's compact rows expanded)."""
    if isinstance(snapshot, dict):
        if "task_rows" in snapshot:
            from .endpoint import expand_rows  # (the endpoint imports this module)
            return expand_rows(dict(snapshot))
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


def _place(frames, names=None) -> str:
    if not frames:
        return "-"
    filename, lineno, function = frames[-1][:3]
    base = names.get(filename) if names is not None else None
    if base is None:
        base = os.path.basename(filename)
        if names is not None:
            names[filename] = base
    return f"{base}:{lineno} {function}"


def _waited(task: dict, now) -> float | None:
    wait = task.get("wait")
    if not wait or wait.get("since") is None or now is None:
        return None
    return now - wait["since"]


#: ps's columns: (title, row key, right-aligned).
PS_COLUMNS = (("ID", "id", True), ("NAME", "name", False), ("STATE", "state", False),
              ("WAIT", "wait", False), ("TARGET", "target", False),
              ("WAITED", "waited", True), ("RUN", "run", True), ("STEPS", "steps", True),
              ("CREATED AT", "created", False))
_CELL_KEYS = tuple(key for _, key, _ in PS_COLUMNS)
_SORT_COLUMNS = {"wait": 9, "run": 10, "steps": 11}  # in _ps_cells' tuples


def _ps_fields(data):
    """``(id, name, state, wait, run_time, steps, created_at)`` per task, *wait* a
    dict or None: from ``to_dict()``'s shape, or from the endpoint's compact rows as
    they came (``python -m coroloop ps`` formats 10,000 tasks without making a dict
    of each first)."""
    if "task_rows" not in data:
        for task in data["tasks"]:
            yield (task["id"], task["name"], task["state"], task.get("wait"),
                   task.get("run_time"), task.get("steps", 0), task.get("created_at"))
        return
    fields = data["task_fields"]
    columns = [fields.index(name) for name in ("id", "name", "state", "wait", "run_time",
                                                "steps", "created_at")]
    wait_fields = data["wait_fields"]
    table = data.get("frames")
    for row in data["task_rows"]:
        task_id, name, state, wait, run_time, steps, created = (row[n] for n in columns)
        if wait is not None:
            wait = dict(zip(wait_fields, wait))
        if created and table is not None:
            created = [table[created[-1]]]
        yield task_id, name, state, wait, run_time, steps, created


def _ps_cells(data) -> list[tuple]:
    """Per task: the PS_COLUMNS cells (strings), then the raw wait time, run time,
    steps and id (the sort keys).  ps and top format thousands of these."""
    now = data.get("time")
    names: dict = {}
    cells: list = []
    append = cells.append
    duration = format_duration
    for task_id, name, state, wait, run_time, steps, created_at in _ps_fields(data):
        if wait:
            kind = wait.get("kind", "-")
            target = str(wait.get("target") or "-")
            since = wait.get("since")
            waited = None if since is None or now is None else now - since
        else:
            kind, target, waited = "-", "-", None
        name = str(name)
        if len(name) > _NAME_WIDTH:
            name = _clip(name, _NAME_WIDTH)
        if len(target) > _TARGET_WIDTH:
            target = _clip(target, _TARGET_WIDTH)
        append((str(task_id), name, state, kind, target, duration(waited),
                duration(run_time), str(steps),
                _place(created_at, names),
                waited or 0.0, run_time or 0.0, steps or 0, task_id))
    return cells


def _sorted_cells(cells, sort):
    if sort is not None:
        if sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {sort!r}: one of {', '.join(SORT_KEYS)}")
        column = _SORT_COLUMNS[sort]
        cells.sort(key=lambda cell: (-cell[column], cell[12]))
    return cells


def ps_rows(snapshot, *, sort: str | None = None) -> list[dict]:
    """One row (a dict of display strings plus the raw sort values) per task."""
    rows = []
    with gc_paused():
        data = snapshot if isinstance(snapshot, dict) else snapshot_dict(snapshot)
        for cell in _sorted_cells(_ps_cells(data), sort):
            row = dict(zip(_CELL_KEYS, cell))
            row.update(_wait=cell[9], _run=cell[10], _steps=cell[11], _id=cell[12])
            rows.append(row)
    return rows


def format_table(rows: list[dict], columns=PS_COLUMNS) -> str:
    """*rows* as aligned text columns under a header line."""
    keys = [key for _, key, _ in columns]
    return _table([[row[key] for key in keys] for row in rows], columns)


def _table(cells, columns=PS_COLUMNS) -> str:
    """Rows of cells (their first len(columns) entries shown) as aligned columns."""
    count = len(columns)
    widths = [len(title) for title, _, _ in columns]
    if cells:  # the columns' widest cells, transposed and measured in C
        widths = [max(width, max(map(len, column)))
                  for width, column in zip(widths, zip(*cells))]
    # One str.format per line: the alignment of every cell done in C.
    template = "  ".join(f"{{:{'>' if right else '<'}{width}}}"
                         for width, (_, _, right) in zip(widths, columns))
    fill = template.format
    lines = [fill(*[title for title, _, _ in columns]).rstrip()]
    lines.extend(fill(*row[:count]).rstrip() for row in cells)
    return "\n".join(lines)


def format_ps(snapshot, *, sort: str | None = None) -> str:
    """A table with one row per task: id, name, state, wait kind and target, time in
    that wait, run time, steps, where it was created (innermost frame)."""
    data = snapshot if isinstance(snapshot, dict) else snapshot_dict(snapshot)
    with gc_paused():
        cells = _sorted_cells(_ps_cells(data), sort)
        count = len(cells)
        return _table(cells) + f"\n{count} task{'s' if count != 1 else ''}"


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
    with gc_paused():
        return _pstree(snapshot_dict(snapshot), stacks)


def _pstree(data: dict, stacks: bool) -> str:
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
