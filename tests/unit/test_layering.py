"""coroloop's layers, held by reading the source (the AST), not by convention.

The layers (docs/architecture.md has the picture)::

    testing, debug            the public API only
    coroloop, streams,        anything below
      subprocess (public)
    _api                      _core, _bridge/_repr, and _event_loop (a default loop)
    _event_loop               _core and _net: EventLoop is the core plus the network layer
    _net                      _core, _bridge/_repr
    _core                     _bridge/_repr only
    _bridge, _repr            nothing of coroloop

Four rules are checked here:

1. **Imports** go only downwards, as in the table (``IMPORTS``).
2. **Private attributes** (``obj._name``): using one that is declared in another
   layer is a seam, allowed only where ``CROSSINGS`` lists it with its reason.
   Without types, "declared in" is worked out from names: a module declares the
   private names its classes define (methods, class attributes, ``__slots__``,
   ``self._name = ...``).  An access through a loop (``loop._x``, ``self._loop._x``)
   is resolved against the loop classes themselves, so that a transport's own
   ``_io`` does not hide that ``loop._io`` belongs to ``EventLoop``.  A private name
   that coroloop declares nowhere belongs to someone else (asyncio, the stdlib).
3. **asyncio's private names** (and the stdlib's) are used only in ``_bridge.py``,
   apart from the ``CROSSINGS`` entries; so are version checks (``sys.version_info``):
   every version difference is a named gate there.
4. **``__all__``** is a list in every module (``_bridge`` aside: a namespace used
   as ``_bridge.NAME``; and ``__main__``, an entry point), naming only what the
   module defines or imports.

Plus the shape the architecture promises: ``EventLoop`` is built from at most four
coroloop classes; everything else is a component it holds.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import coroloop

SRC = Path(__file__).resolve().parents[2] / "src" / "coroloop"


def layer_of(module: str) -> str:
    """The layer of a module given as a path relative to src/coroloop."""
    top = module.split("/")[0]
    if top in ("_core", "_net", "_api", "testing", "debug"):
        return top
    if module in ("_bridge.py", "_repr.py"):
        return "leaf"
    if module == "_event_loop.py":
        return "_event_loop"
    return "public"  # __init__.py, streams.py, subprocess.py


# Which layers each layer may import from (its own layer always).
IMPORTS = {
    "leaf": set(),
    "_core": {"leaf"},
    "_net": {"_core", "leaf"},
    "_event_loop": {"_core", "_net"},
    "_api": {"_core", "leaf", "_event_loop"},
    "public": {"_core", "_net", "_api", "_event_loop", "leaf"},
    # The pytest plugin's timeout report is built on the debugging tools (snapshot,
    # wait reasons); debug never imports testing.
    "testing": {"public", "debug"},
    "debug": {"public"},
}

# Private attributes used across layers, and why each is a seam worth having.
_IO_REASON = ("EventLoop's TransportHost (_net/host.py): the one loop attribute the "
              "networking layer uses beyond asyncio's public loop API")
CROSSINGS = {
    # -- the loop <-> transport interface ------------------------------------------
    ("_net/transports.py", "_io"): _IO_REASON,
    ("_net/tcp.py", "_io"): _IO_REASON,
    ("_net/sockets.py", "_io"): _IO_REASON,
    ("_net/process.py", "_io"): _IO_REASON,
    ("testing/faults.py", "_io"):
        "a simulation's Faults installs its plan as the loop's TransportHost.stream_faults "
        "(host.py, item 4): the one place a testing tool reaches the networking layer",
    ("_event_loop.py", "_readiness"):
        "EventLoop gives its TransportHost the core's Readiness, so that a transport "
        "registers its own descriptor in one call and without the ownership check",
    # -- asyncio's protocols, which name these attributes themselves -----------------
    ("_api/combinators.py", "_add_entry"):
        "gather() adds its one (callback, context) tuple to each pending coroloop Task it "
        "made (add_done_callback() would build a tuple per child)",
    ("_api/taskgroups.py", "_add_entry"):
        "TaskGroup adds its one (callback, context) tuple to each pending coroloop Task "
        "it made (add_done_callback() would build a tuple per child)",
    ("_api/taskgroups.py", "_exception"):
        "asyncio's Future attribute: a coroloop Task child whose _exception is None "
        "(a result or a cancellation) is done with without cancelled()/exception() calls",
    ("_api/combinators.py", "_exception"):
        "asyncio's Future attribute: gather() takes a finished coroloop Task child "
        "whose _exception is None as a success without an exception() call",
    ("_api/combinators.py", "_result"):
        "asyncio's Future attribute: gather() reads the results of its coroloop Task "
        "children, all of which succeeded, without a result() call per child",
    ("_api/combinators.py", "_log_destroy_pending"):
        "asyncio's Task attribute: gather() turns the 'destroyed but pending' report "
        "off for the tasks it creates, as asyncio's gather does",
    ("_api/combinators.py", "_cancel_message"):
        "asyncio's Future attribute (no public accessor): gather()'s outcome for a "
        "cancelled child carries that child's cancel message, as asyncio's gather reads it",
    ("_api/combinators.py", "_make_cancelled_error"):
        "asyncio's Future method: a gather() cancelled through itself ends with its last "
        "child's CancelledError, as asyncio's gather takes it",
    ("_net/tls_transport.py", "_take_unread_for_tls"):
        "start_tls() on a server asks a stream protocol (streams.py's, a layer above) "
        "for the bytes it received and nobody read: the start of the handshake "
        "(gh-142352); an optional hook, looked up with getattr",
    ("_core/handles.py", "_lock"):
        "asyncio's _ThreadSafeHandle slot, which coroloop's ThreadSafeHandle (its "
        "subclass, returned by call_soon_threadsafe on 3.14+) fills and takes as "
        "asyncio's cancel() does",
    # -- coroloop's own markers on objects that are not coroloop classes ------------
    ("_core/coroutines.py", "_is_coroutine"):
        "the marker @coroutine puts on the functions it returns (a function has no "
        "class of ours to declare it)",
    ("testing/__init__.py", "_coroloop_loop_scope"):
        "the marker coroloop.testing.fixture() puts on the fixture function it wraps "
        "(a function has no class of ours to declare it)",
    ("testing/pytest_plugin.py", "_coroloop_loop_scope"):
        "the pytest plugin reads the marker coroloop.testing.fixture() put on the "
        "fixture function",
    # -- the standard library, outside asyncio ----------------------------------------
    ("debug/endpoint.py", "_current_frames"):
        "sys._current_frames: the one way to read the loop thread's stack from the "
        "monitor's thread when the loop is blocked (issue 10)",
    ("_core/handles.py", "_getframe"):
        "sys._getframe: CPython's documented frame access, to record where a handle, "
        "future or task was created in debug mode (as asyncio does)",
    # -- issue 9 (detect): the blocking and deadlock detectors -------------------------
    ("debug/blocking.py", "_current_frames"):
        "sys._current_frames: the loop thread's stack, sampled by the watchdog thread "
        "while a callback blocks",
    ("debug/deadlock.py", "_current_frames"):
        "sys._current_frames: whether another thread is an idle executor worker (it "
        "cannot wake the loop) or may still call call_soon_threadsafe",
    ("debug/deadlock.py", "_track_holders"):
        "turns on Lock/Semaphore holder tracking (as TaskMonitor does), so lock waits "
        "name their holders",
    # -- issue 9 (debug): what the debugging tools read that has no public accessor -----
    ("debug/taskmonitor.py", "_getframe"):
        "sys._getframe: a task's creation site, recorded as raw frames when it is spawned",
    ("debug/provenance.py", "_getframe"):
        "sys._getframe: the stack of a cancel() call, read inside the hook it calls",
    ("debug/callgraph.py", "_getframe"):
        "sys._getframe: the current task's call stack, as asyncio.capture_call_graph takes it",
    # -- issue 10 (trace10): the trace recorder's per-step hook ----------------------
    ("debug/trace.py", "_fut_waiter"):
        "asyncio's Task attribute (waiting_on() reads it): the trace reads it once per "
        "step, where a method call is a large part of what recording costs",
    ("debug/trace.py", "_state"):
        "asyncio's Future attribute (done() and cancelled() read it): per step, as above",
    ("debug/trace.py", "_coro"):
        "asyncio's Task attribute (get_coro() reads it): once per task, as it exits",
    ("debug/trace.py", "_parent"):
        "coroloop's Task field behind spawned_by(): the step that created tasks records "
        "them at its end, checking in one read each that it is their parent",
    ("debug/trace.py", "_name"):
        "coroloop's Task field behind get_name(): an exit keeps the raw name (an int for "
        "the default Task-N, formatted when the trace is written)",
    ("debug/trace.py", "_callback"):
        "asyncio's Handle attribute: which task a running ready-queue item steps (one "
        "woken by a foreign future), the creator of an eager task that finished in its "
        "first step",
    ("debug/_tool.py", "_fut_waiter"):
        "asyncio's Task attribute: what a stdlib task on coroloop's loop waits on "
        "(coroloop's tasks answer waiting_on())",
    ("debug/pitfalls.py", "_source_traceback"):
        "asyncio's debug-mode attribute of futures and tasks: where a task was created, "
        "when no TaskMonitor recorded it",
    ("debug/snapshot.py", "_source_traceback"):
        "asyncio's debug-mode attribute of futures and tasks: where a task was created, "
        "when no TaskMonitor recorded it",
    ("debug/provenance.py", "_cancelled_exc"):
        "asyncio's Future attribute: the CancelledError that escaped a task, which "
        "debug mode annotates with its provenance (reading it otherwise consumes it)",
    ("debug/snapshot.py", "_awaited_by"):
        "coroloop's Future keeps 3.14's explicit awaited-by links (gather, TaskGroup, "
        "shield, wait) in this set: read directly, a snapshot of 10,000 tasks does "
        "not build each task's _asyncio_awaited_by frozenset on the loop's thread",
    # >>> snap9: the snapshot's one read of a coroloop Task's fields
    ("debug/snapshot.py", "_parent"):
        "coroloop's Task: the fields behind spawned_by(), waiting_on(), get_coro() and "
        "record_of(), read with one attrgetter call per task on the loop's thread (a "
        "method call each is a millisecond of a 10,000-task snapshot's stall)",
    ("debug/snapshot.py", "_fut_waiter"): "see ('debug/snapshot.py', '_parent')",
    ("debug/snapshot.py", "_coro"): "see ('debug/snapshot.py', '_parent')",
    ("debug/snapshot.py", "_step_record"): "see ('debug/snapshot.py', '_parent')",
    ("debug/snapshot.py", "_name"):
        "see ('debug/snapshot.py', '_parent'): get_name() once it is formatted",
    ("debug/snapshot.py", "_state"):
        "asyncio's Future attribute (read by libraries too): done(), see "
        "('debug/snapshot.py', '_parent'); also the pending state's value",
    # <<< snap9
    ("debug/snapshot.py", "_asyncio_awaited_by"):
        "asyncio 3.14's awaited-by links, which coroloop's futures keep on every version",
    ("debug/snapshot.py", "_callbacks"):
        "asyncio's Future attribute (read by libraries too): the done callbacks tell who "
        "waits on a future (a gather, a TaskGroup, a foreign task)",
    ("debug/provenance.py", "_callbacks"):
        "asyncio's Future attribute: a task being cancelled that shield() protects has "
        "the shield's link among its done callbacks (cancellation provenance via shield)",
    ("debug/waits.py", "_callbacks"):
        "asyncio's Future attribute: a future chained to a concurrent.futures.Future "
        "(wrap_future) is an executor job",
    ("debug/snapshot.py", "_parent_task"):
        "asyncio's TaskGroup attribute: a group's children are awaited by its parent task",
    ("debug/waits.py", "_children"):
        "asyncio's _GatheringFuture attribute: how many of a gather's children are done",
    ("debug/waits.py", "_holder"):
        "Lock/Semaphore's holding task, recorded while the debug tools track holders",
    ("debug/taskmonitor.py", "_track_holders"):
        "switches holder tracking in _api/locks.py on (debug imports only the public API)",
    ("debug/taskmonitor.py", "_step_record"):
        "the loop's StepRecord of a task (coroloop.Instrument's records_steps): made at "
        "spawn with the creation site, read for snapshots; an attribute, not an accessor, "
        "so the loop counts each step without a call",
    # >>> cost10: the spawn hook's end of the creation-site walk
    ("debug/taskmonitor.py", "_parent"):
        "the spawning task (spawned_by()) and its coroutine (get_coro()), read in the "
        "spawn hook without two method calls: the coroutine's frame is where the "
        "creation-site walk stops, sparing it a look at the scheduler's frame",
    ("debug/taskmonitor.py", "_coro"): "see ('debug/taskmonitor.py', '_parent')",
    # <<< cost10
    # -- end of issue 9 (debug) ---------------------------------------------------------
    ("testing/pytest_plugin.py", "_getframe"):
        "sys._getframe: the pytest plugin records where each task of its loops was "
        "created (the first frame outside coroloop and asyncio), for its leak reports",
    # -- pytest ---------------------------------------------------------------------
    ("testing/pytest_plugin.py", "_fixtureinfo"):
        "pytest's Function._fixtureinfo: the fixture closure pytest resolved for a test "
        "(no public accessor; pytest-asyncio reads it too), to check each async "
        "fixture's loop and to call the test with its arguments",
}

# The loop classes, whose declared attributes resolve loop._x accesses.
LOOP_CLASSES = {"CoreEventLoop": "_core/loop.py", "EventLoop": "_event_loop.py"}


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text())


MODULES = dict(_modules())


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _declared_by_class(cls: ast.ClassDef) -> set[str]:
    names = set()
    for item in cls.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(item.name)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                    if target.id == "__slots__":
                        names.update(c.value for c in ast.walk(item.value)
                                     if isinstance(c, ast.Constant) and isinstance(c.value, str))
    for node in ast.walk(cls):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) \
                            and sub.value.id in ("self", "cls"):
                        names.add(sub.attr)
    return names


def _declarations():
    """private name -> modules whose classes declare it; class name -> its names."""
    by_name = defaultdict(set)
    by_class = {}
    for module, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                names = _declared_by_class(node)
                by_class[node.name, module] = names
                for name in names:
                    by_name[name].add(module)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "type" and len(node.args) == 3 \
                    and isinstance(node.args[2], ast.Dict):
                # type(name, bases, {...}): a class made at run time (futures.py's
                # asyncio twins) declares the keys of its namespace.
                for key in node.args[2].keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        by_name[key.value].add(module)
    return by_name, by_class


DECLARED, CLASS_NAMES = _declarations()


def _loop_owner_layers(name: str) -> set[str]:
    """The layers of the loop classes (with their bases) declaring *name*."""
    owners = set()
    if name in CLASS_NAMES["CoreEventLoop", LOOP_CLASSES["CoreEventLoop"]]:
        owners.add("_core")
    if name in CLASS_NAMES["EventLoop", LOOP_CLASSES["EventLoop"]]:
        owners.add("_event_loop")
    return owners


def _is_loop(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id == "loop"
    if isinstance(expr, ast.Attribute):
        return expr.attr in ("loop", "_loop")
    return False


def _private_uses(tree):
    """(name, receiver expression) for every obj._name and getattr(obj, "_name")."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            yield node.attr, node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and _is_private(node.args[1].value):
            yield node.args[1].value, node.args[0]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "attrgetter":  # operator.attrgetter("_a", "_b")
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                        and _is_private(arg.value):
                    yield arg.value, node


def _crossings():
    """{(module, name): owner layers or "foreign"} for every use across layers."""
    found = {}
    for module, tree in MODULES.items():
        if module == "_bridge.py":
            continue  # its job is to use asyncio's private names
        own_layer = layer_of(module)
        declared_here = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                declared_here |= CLASS_NAMES[node.name, module]
        for name, receiver in _private_uses(tree):
            is_self = isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")
            if is_self and name in declared_here:
                continue
            if _is_loop(receiver):
                owners = _loop_owner_layers(name) or {layer_of(m) for m in DECLARED[name]}
            else:
                owners = {layer_of(m) for m in DECLARED.get(name, ())}
            if not owners:
                found[module, name] = "foreign"
            elif own_layer not in owners:
                found[module, name] = ", ".join(sorted(owners))
    return found


def test_imports_follow_the_layers():
    wrong = []
    for module, tree in MODULES.items():
        own = layer_of(module)
        package = module.split("/")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name.split(".")[1:] for alias in node.names
                           if alias.name.split(".")[0] == "coroloop"]
            elif isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - (node.level - 1)]
                if node.module:
                    base = base + node.module.split(".")
                # `from pkg import name`: name may be a module, else it is pkg's
                targets = [base + [alias.name] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module.split(".")[0] == "coroloop":
                base = node.module.split(".")[1:]  # an absolute import of our own
                targets = [base + [alias.name] for alias in node.names]
            else:
                continue
            for parts in targets:
                target = _module_path(parts)
                if target is None:
                    continue  # a name imported from a package's __init__ (the public API)
                if layer_of(target) not in IMPORTS[own] | {own}:
                    wrong.append(f"{module} imports {target} ({own} -> {layer_of(target)})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def _module_path(parts: list[str]) -> str | None:
    """The path of the module *parts* names, or None for the root package itself."""
    if not parts:
        return "__init__.py"
    candidate = "/".join(parts)
    if candidate + ".py" in MODULES:
        return candidate + ".py"
    if candidate + "/__init__.py" in MODULES:
        return candidate + "/__init__.py"
    return _module_path(parts[:-1])  # `from ..pkg import name`: name is not a module


def test_private_attributes_cross_layers_only_where_listed():
    found = _crossings()
    unlisted = {key: owners for key, owners in found.items() if key not in CROSSINGS}
    assert not unlisted, (
        "private attributes used outside their layer (use the public API, or list the "
        "seam in CROSSINGS with its reason):\n"
        + "\n".join(f"  {m}: ._{n.lstrip('_')} (declared in: {o})"
                    for (m, n), o in sorted(unlisted.items())))
    stale = set(CROSSINGS) - set(found)
    assert not stale, f"CROSSINGS entries no longer needed: {sorted(stale)}"
    assert all(reason for reason in CROSSINGS.values())


def test_the_check_sees_a_crossing():
    # The check itself: a layer reaching into the loop's private attribute is found,
    # however the receiver is spelled.
    tree = ast.parse("def f(loop, t):\n    loop._ready.append(1)\n    t._loop._timers\n")
    uses = {(name, _is_loop(receiver)) for name, receiver in _private_uses(tree)}
    assert uses == {("_ready", True), ("_timers", True), ("_loop", False)}
    assert _loop_owner_layers("_ready") == {"_core"}
    assert _loop_owner_layers("_io") == {"_event_loop"}


def test_asyncio_private_names_and_version_checks_only_in_bridge():
    wrong = []
    for module, tree in MODULES.items():
        if module == "_bridge.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level \
                    and node.module.split(".")[0] != "coroloop":
                for alias in node.names:
                    if _is_private(alias.name):
                        wrong.append(f"{module}: from {node.module} import {alias.name}")
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]
                for name in names:
                    if name.split(".")[0] != "coroloop" and \
                            any(_is_private(part) for part in name.split(".")):
                        wrong.append(f"{module}: imports the private module {name}")
            if isinstance(node, ast.Attribute) and node.attr in ("version_info", "hexversion") \
                    and isinstance(node.value, ast.Name) and node.value.id == "sys":
                wrong.append(f"{module}:{node.lineno}: sys.{node.attr} (a gate in _bridge)")
    assert not wrong, "\n".join(wrong)


def test_every_module_declares_a_list_all_of_names_it_has():
    problems = []
    for module, tree in MODULES.items():
        if module in ("_bridge.py", "__main__.py") or not tree.body or (
                module.endswith("__init__.py") and layer_of(module) in ("_core", "_net", "_api")):
            continue
        assigned = [node for node in tree.body if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)]
        if len(assigned) != 1:
            problems.append(f"{module}: no single __all__ = [...]")
            continue
        value = assigned[0].value
        if isinstance(value, ast.BinOp):  # poller.py: a list plus the platform's extras
            value = value.left
        if not isinstance(value, ast.List):
            problems.append(f"{module}: __all__ is not a list")
            continue
        bound = _top_level_names(tree)
        for element in value.elts:
            if not (isinstance(element, ast.Constant) and element.value in bound):
                problems.append(f"{module}: __all__ names {ast.unparse(element)}, "
                                "which the module does not define or import")
    assert not problems, "\n".join(problems)


def _top_level_names(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def test_event_loop_is_built_from_at_most_four_coroloop_classes():
    ours = [cls for cls in coroloop.EventLoop.__mro__
            if cls.__module__.split(".")[0] == "coroloop"]
    assert len(ours) <= 4, ours
    # The duties that are not scheduling are components the loop holds and names.
    loop = coroloop.new_event_loop()
    try:
        components = {name: type(getattr(loop, name)).__name__ for name in (
            "_timers", "_readiness", "_executors", "_errors", "_async_generators",
            "_io", "_signals")}
        assert components == {
            "_timers": "TimerQueue", "_readiness": "Readiness", "_executors": "Executors",
            "_errors": "ErrorReporter", "_async_generators": "AsyncGenTracker",
            "_io": "TransportHost", "_signals": "SignalHandlers"}
    finally:
        loop.close()
