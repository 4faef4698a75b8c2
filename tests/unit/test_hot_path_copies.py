"""Hot-path rules written once, copied by hand where a call would cost too much.

A rule is a block of source between two comments::

    # >>> rule timer-push
    ...statements...
    # <<< rule timer-push

and each copy of it sits between ``# >>> copy timer-push`` and
``# <<< copy timer-push``, optionally with renames: ``# >>> copy add-entry
(self -> result, entry -> self)`` says the copy is the rule with ``self`` written
``result`` and ``entry`` written ``self`` (renamed at once, so names may swap).
Everything else -- comments, blank lines, line breaks -- may differ.

This test parses every rule and copy in ``src/coroloop`` and fails when a copy
is not the rule's statements, so a change to one is a change to all; and it
pins the list of copies, so that adding one is a decision made here, with its
reason, not a silent drift.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "coroloop"

_START = re.compile(r"^\s*# >>> (rule|copy) ([\w-]+)(?: \(([^)]*)\))?(?::.*)?$")
_END = re.compile(r"^\s*# <<< (rule|copy) ([\w-]+)\s*$")

# Every copy, by rule, with why the rule is inlined there instead of called.
EXPECTED_COPIES = {
    "future-fields": {
        # rule: futures.new_future (loop.create_future)
        "_core/futures.py": "Future.__init__: a future built by its class",
        "_core/tasks.py": "Task.__init__ and new_task (create_task): tasks are futures",
        "_core/sleep.py": "SleepFuture.__init__: every sleep() on coroloop's loop",
    },
    "complete": {
        # rule: Future.set_result
        "_core/futures.py": "Future.set_exception",
        "_core/tasks.py": "Task._step: every task ends with its coroutine's return",
        "_core/sleep.py": "SleepFuture._fire: every sleep ends there",
    },
    "add-entry": {
        # rule: Future._add_entry
        "_core/futures.py": "Future.add_done_callback: gather and wait add one per child",
        "_core/tasks.py": "Task._step: every await of a coroloop future",
    },
    "waiting-on": {
        # rule: Task._wait_for (the asyncio-protocol path)
        "_core/tasks.py": "Task._step's fast path: every await of a coroloop future",
    },
    "new-task": {
        # rule: tasks.new_task (loop.create_task)
        "_core/tasks.py": "create_task() up to 3.13, and new_child_task (every TaskGroup "
                          "and gather child): a call costs a tenth of the task",
    },
    "timer-push": {
        # rule: TimerQueue.push
        "_core/loop.py": "call_at, call_later and sleep(): every timer",
    },
    "timer-at": {
        # rule: CoreEventLoop.call_at
        "_core/loop.py": "call_later: forwarding *args and context= would cost more "
                         "than the timer itself",
    },
    "nan-deadline": {
        # rule: CoreEventLoop._sleep_future
        "_core/loop.py": "call_at and call_later (sleep() holds the rule)",
    },
    "timer-fire": {
        # rule: TimerQueue.fire (used for timers sharing a deadline)
        "_core/loop.py": "the scheduler: every due timer with a deadline of its own",
    },
    "exit-entry": {
        # rule: log_exit (instrument.py)
        "_core/loop.py": "the lean recording path: every finished task while a "
                         "TaskMonitor keeps its history (debug on)",
    },
    "default-name": {
        # rule: Task.get_name (_core/tasks.py)
        "debug/snapshot.py": "_infos: a snapshot captures a task's number and names it "
                             "off the loop (10,000 f-strings on the loop's thread)",
        "debug/trace.py": "the exporter: a trace keeps an exited task's number and "
                          "names its track when the file is written (an f-string per "
                          "task while recording was a tenth of the recorder's cost)",
    },
    "native-fields": {
        # rule: _native_fields (debug/snapshot.py)
        "debug/snapshot.py": "_capture: every task of a snapshot (one attrgetter call "
                             "costs three times the seven loads)",
    },
    # >>> cost10
    "new-record": {
        # rule: StepRecord.__init__ (instrument.py)
        "debug/taskmonitor.py": "TaskMonitor.task_spawned: every task spawned while a "
                                "TaskMonitor watches (debug on)",
    },
    # <<< cost10
    "add-step": {
        # rule: StepRecord.add_step (instrument.py)
        "_core/loop.py": "_run_ready_recorded: every task step while a TaskMonitor "
                         "records steps (debug on)",
    },
}


class _Block:
    def __init__(self, kind, name, renames, path, first, lines):
        self.kind = kind
        self.name = name
        self.renames = renames
        self.path = path
        self.first = first  # line number of the start marker
        self.lines = lines

    def where(self) -> str:
        return f"{self.path}:{self.first}"

    def statements(self) -> list[ast.stmt]:
        source = textwrap.dedent("\n".join(self.lines))
        try:
            return ast.parse(source).body
        except SyntaxError as exc:
            raise AssertionError(f"{self.kind} {self.name} at {self.where()} is not a "
                                 f"block of whole statements: {exc}") from None


def _parse_renames(text: str | None) -> dict[str, str]:
    renames = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        old, arrow, new = part.partition("->")
        assert arrow, f"rename {part!r} must read 'old -> new'"
        renames[old.strip()] = new.strip()
    return renames


def _collect() -> list[_Block]:
    blocks = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        open_blocks = []  # stack: copies may contain copies of other rules
        for number, line in enumerate(path.read_text().splitlines(), 1):
            start = _START.match(line)
            end = _END.match(line)
            for block in open_blocks:
                if not (end and (end[1], end[2]) == (block.kind, block.name)):
                    if not start:
                        block.lines.append(line)
                    else:
                        block.lines.append("")  # a nested marker is only a comment
            if start:
                open_blocks.append(_Block(start[1], start[2], _parse_renames(start[3]),
                                          rel, number, []))
            elif end:
                assert open_blocks and (open_blocks[-1].kind, open_blocks[-1].name) == \
                    (end[1], end[2]), f"{rel}:{number}: unmatched {line.strip()!r}"
                blocks.append(open_blocks.pop())
        assert not open_blocks, f"{rel}: unclosed {[b.name for b in open_blocks]}"
    return blocks


class _Rename(ast.NodeTransformer):
    def __init__(self, renames):
        self.renames = renames

    def visit_Name(self, node):
        return ast.copy_location(ast.Name(self.renames.get(node.id, node.id), node.ctx), node)

    def visit_arg(self, node):
        node.arg = self.renames.get(node.arg, node.arg)
        return node


def _dump(statements, renames=None) -> str:
    module = ast.Module(body=statements, type_ignores=[])
    if renames:
        module = _Rename(renames).visit(module)
    return ast.dump(module, annotate_fields=False)


BLOCKS = _collect()
RULES = {b.name: b for b in BLOCKS if b.kind == "rule"}
COPIES = [b for b in BLOCKS if b.kind == "copy"]


def test_each_rule_is_written_once():
    names = [b.name for b in BLOCKS if b.kind == "rule"]
    assert len(names) == len(set(names)), f"a rule is written twice: {sorted(names)}"


@pytest.mark.parametrize("copy", COPIES, ids=lambda b: f"{b.name}@{b.where()}")
def test_copy_is_its_rule(copy):
    rule = RULES.get(copy.name)
    assert rule is not None, f"{copy.where()} copies rule {copy.name!r}, which is not written"
    expected = _dump(rule.statements(), copy.renames)
    actual = _dump(copy.statements())
    assert actual == expected, (
        f"{copy.where()} no longer matches rule {copy.name!r} at {rule.where()}: change "
        "both (or call the rule) -- see this test's docstring")


def test_the_copies_are_the_expected_ones():
    found = {}
    for copy in COPIES:
        found.setdefault(copy.name, set()).add(copy.path)
    expected = {name: set(where) for name, where in EXPECTED_COPIES.items()}
    assert found == expected, (
        "the hand-inlined copies changed: list each one in EXPECTED_COPIES with its "
        "reason (or remove the entry of one that is gone)")
    assert set(RULES) == set(EXPECTED_COPIES), "a rule without copies needs no markers"


def test_renaming_can_swap_names():
    # The check itself: a copy that swaps two names matches only with the renames.
    rule = ast.parse("a.x = b\n").body
    copy = ast.parse("b.x = a\n").body
    assert _dump(copy) != _dump(rule)
    assert _dump(copy) == _dump(rule, {"a": "b", "b": "a"})
