"""coroloop's pytest plugin: async tests and fixtures on coroloop's loop.

Installed with coroloop as the ``pytest11`` entry point ``coroloop``; it acts only
on the tests it is asked to run::

    @pytest.mark.coroloop                       # or every async test: coroloop_mode = auto
    async def test_fetch(server): ...

    @pytest.mark.coroloop(virtual_time=True, timeout=5, loop_scope="module",
                          allow_pending=False)

Four rules explain most of this module:

1. **One loop per loop scope.** A test runs on the loop of its ``loop_scope``
   (``function`` by default: a fresh loop per test; ``class``, ``module``,
   ``package`` or ``session``: one loop shared by the tests of that node).  A
   ``LoopRunner`` owns that loop, is created on first use and closed when pytest
   tears its node down -- after the fixtures that used it, because it registers its
   finalizer first.
2. **Async fixtures run on the test's loop.** A fixture's own ``loop_scope``
   (``coroloop.testing.fixture(loop_scope=...)``) must be the test's; a fixture
   that would outlive the test's loop, or was set up on another loop, is an error
   naming both and the fix -- never a fixture silently bound to a dead loop.
3. **One context per loop.** Fixture setup, the test and fixture teardown run as
   tasks in the runner's ``contextvars.Context`` (what ``asyncio.Runner.run`` does
   between calls), so a contextvar a fixture sets is what the test reads.
4. **A test finishes what it starts.** Every task spawned on a runner's loop is
   remembered with where it was created and who was running (a fixture, a test).
   Tasks a test spawned and left pending fail that test; tasks still pending when
   the loop closes fail its teardown.  ``allow_pending=True`` opts a test out
   (its leftovers are cancelled quietly when the loop closes).

Options: ``--coroloop-seed=N`` (every coroloop test under ``RandomOrder(N)``),
``--coroloop-explore=K`` (each function-loop test once per schedule, seeds N..N+K-1;
a failing run prints the command line that replays it).  Marker ``timeout=S`` (real
seconds) cancels a hung test and fails it with the task tree and what each task
waits on.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import shlex
import sys
import threading
import types
import weakref
from dataclasses import dataclass
from typing import Any, cast

import pytest

import coroloop

from ._clock import VirtualClock
from .scheduling import RandomOrder

__all__ = ["LoopRunner", "MARK", "SCOPES", "Settings", "describe_task", "format_task_tree",
           "replay_command", "runner_for", "settings_of"]

MARK = "coroloop"
#: Loop scopes, narrowest first (pytest's fixture scopes).
SCOPES = ("function", "class", "module", "package", "session")
_MARK_KWARGS = ("loop_scope", "virtual_time", "timeout", "allow_pending")
# Marks of the other async test plugins: coroloop's auto mode leaves their tests alone.
_OTHER_PLUGINS_MARKS = ("asyncio", "anyio", "trio")

# Where coroloop, asyncio and this plugin live: a task's creation site is the first
# frame outside them.
_LIBRARY_DIRS = tuple(os.path.dirname(cast(str, module.__file__)) + os.sep
                      for module in (coroloop, asyncio))
_PLUGIN_FILES = (__file__, getattr(pytest, "__file__", ""))


# -- what a test asks for -----------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The coroloop marker's arguments for one test, checked."""

    loop_scope: str = "function"
    virtual_time: bool = False
    timeout: float | None = None
    allow_pending: bool = False
    seed: int | None = None          # a RandomOrder seed (--coroloop-seed / -explore)

    @classmethod
    def from_marker(cls, item, marker, seed) -> Settings:
        unknown = sorted(set(marker.kwargs) - set(_MARK_KWARGS))
        if marker.args or unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.coroloop takes only the keyword arguments "
                f"{', '.join(_MARK_KWARGS)}; got {marker.args!r} {unknown!r}")
        kwargs = dict(marker.kwargs)
        scope = kwargs.get("loop_scope", "function")
        if scope not in SCOPES:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.coroloop(loop_scope={scope!r}): the loop "
                f"scope is one of {', '.join(SCOPES)}")
        timeout = kwargs.get("timeout")
        if timeout is not None and (isinstance(timeout, bool)
                                    or not isinstance(timeout, (int, float))
                                    or not timeout > 0):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.coroloop(timeout={timeout!r}): the timeout "
                "is a number of real seconds > 0")
        return cls(loop_scope=scope, virtual_time=bool(kwargs.get("virtual_time", False)),
                   timeout=timeout, allow_pending=bool(kwargs.get("allow_pending", False)),
                   seed=seed)


_SETTINGS = pytest.StashKey[Settings]()


def settings_of(item) -> Settings | None:
    """The coroloop settings of *item*, or None if it is not a coroloop test."""
    return item.stash.get(_SETTINGS, None)


# -- the loop of one loop scope -------------------------------------------------------

@dataclass(frozen=True)
class _Spawn:
    site: str            # "file:line in function"
    owner: str           # who was running: "test_x", "fixture 'server'", "" (the loop)
    allow_pending: bool  # the owner opted out of the pending-task check


class LoopRunner:
    """A coroloop loop for one loop scope, with its context and its tasks' origins.

    Everything run here is a task of ``loop`` in ``context`` (rule 3); ``owner`` is
    who is running now, recorded with each task spawned (rule 4).
    """

    def __init__(self, scope: str, node, settings: Settings, first_user: str) -> None:
        self.scope = scope
        self.node = node
        self.virtual_time = settings.virtual_time
        self.seed = settings.seed
        self.first_user = first_user     # named in a mismatch error
        kwargs: dict[str, Any] = {}
        if settings.virtual_time:
            kwargs["clock"] = VirtualClock()
        if settings.seed is not None:
            kwargs["scheduler"] = RandomOrder(settings.seed)
        self.loop = coroloop.new_event_loop(**kwargs)
        self.context = contextvars.copy_context()
        self.owner = _Spawn("", "", False)
        self.spawns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.loop.add_instrument(self)

    @property
    def clock(self):
        return self.loop.clock

    # The instrument hook: where was this task created, and by whom.
    def task_spawned(self, task) -> None:
        self.spawns[task] = _Spawn(_creation_site(), self.owner.owner,
                                   self.owner.allow_pending)

    def run(self, coro, *, owner: str, allow_pending: bool = False,
            timeout: float | None = None):
        """Run *coro* to its end as a task of this loop, as *owner*.  With *timeout*
        (real seconds) a task still running then is cancelled and ``Failed`` names
        what every task was waiting on."""
        previous = self.owner
        self.owner = _Spawn("", owner, allow_pending)
        try:
            task = self.loop.create_task(coro, context=self.context)
            self.spawns[task] = _Spawn("", owner, allow_pending)  # the plugin's own
            if timeout is None:
                return self.loop.run_until_complete(task)
            return self._run_with_timeout(task, owner, timeout)
        finally:
            self.owner = previous

    def _run_with_timeout(self, task, owner, timeout):
        dump = []

        def expire():  # on the loop's thread, between steps: the tasks are suspended
            if not task.done():
                dump.append(format_task_tree(self))
                task.cancel(f"coroloop: timeout of {timeout} s")

        def from_watchdog():
            try:
                self.loop.call_soon_threadsafe(expire)
            except RuntimeError:  # the loop closed in the meantime: nothing is hung
                pass

        # A real-time watchdog: it fires even when the loop sleeps in the poller
        # with nothing due (a hung await), and on virtual time alike.
        watchdog = threading.Timer(timeout, from_watchdog)
        watchdog.daemon = True
        watchdog.start()
        try:
            result = self.loop.run_until_complete(task)
        except (Exception, asyncio.CancelledError):
            # After the cancel, whatever the test ended with (CancelledError, or what
            # its handlers made of it) is the timeout's consequence: report the dump.
            if not dump:
                raise
            result = None
        finally:
            watchdog.cancel()
        if dump:
            self.cancel_and_wait(self.pending(owner=owner))  # listed in the dump already
            pytest.fail(f"{owner} did not finish within timeout={timeout} s; "
                        f"it was cancelled. Its loop's tasks then:\n{dump[0]}",
                        pytrace=False)
        return result

    def pending(self, *, owner: str | None = None) -> list:
        """Tasks of this loop not done yet (spawned by *owner*, if given)."""
        return [task for task, spawn in list(self.spawns.items())
                if not task.done() and (owner is None or spawn.owner == owner)]

    def cancel_and_wait(self, tasks) -> None:
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(
                asyncio.gather(*tasks, return_exceptions=True))

    def close(self) -> list[str]:
        """Cancel what is left, close the loop; return the descriptions of the
        leftover tasks nobody allowed to stay pending."""
        leftover = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
        blamed = [describe_task(self, task) for task in leftover
                  if not self._spawn_of(task).allow_pending]
        try:
            self.cancel_and_wait(leftover)
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.remove_instrument(self)
            self.loop.close()
        return blamed

    def _spawn_of(self, task) -> _Spawn:
        return self.spawns.get(task) or _Spawn("(unknown: not seen spawning)", "", False)


def _creation_site() -> str:
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_LIBRARY_DIRS) and filename not in _PLUGIN_FILES:
            return f"{_short_path(filename)}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "(inside coroloop)"


def _short_path(filename: str) -> str:
    relative = os.path.relpath(filename)
    return filename if relative.startswith(os.pardir) else relative


# -- describing tasks -----------------------------------------------------------------

def describe_task(runner: LoopRunner, task, wait: str | None = None) -> str:
    """One line: the task, what it waits on (*wait*, or found now), where it was
    created and by whom."""
    spawn = runner._spawn_of(task)
    if not spawn.site:
        origin = f"the task running {spawn.owner}"
    else:
        origin = f"created at {spawn.site}" + (f" by {spawn.owner}" if spawn.owner else "")
    if wait is None:
        wait = _wait_of(task)
    return f"{task.get_name()} ({_coro_name(task)}) waiting on {wait}; {origin}"


def format_task_tree(runner: LoopRunner) -> str:
    """The loop's pending tasks as a tree (a child under the task that spawned it),
    each with its wait reason and creation site."""
    rows = _task_rows(runner)
    pending = {task for task, _, _ in rows}
    waits = {task: wait for task, _, wait in rows}
    children: dict = {}
    for task, parent, _ in rows:
        children.setdefault(parent if parent in pending else None, []).append(task)
    lines: list[str] = []

    def walk(task, depth):
        lines.append("  " * depth + "- " + describe_task(runner, task, waits[task]))
        for child in sorted(children.get(task, ()), key=_task_order):
            walk(child, depth + 1)

    for root in sorted(children.get(None, ()), key=_task_order):
        walk(root, 1)
    return "\n".join(lines) if lines else "  (no pending tasks)"


def _task_rows(runner: LoopRunner) -> list:
    """``(task, parent task or None, wait label)`` per pending task of the loop:
    from ``coroloop.debug.snapshot()`` when this coroloop has it (its wait reasons
    know deadlines and lock holders), from the tasks' own introspection otherwise."""
    from .. import debug  # late: the plugin loads with every pytest run

    snapshot = getattr(debug, "snapshot", None)
    if snapshot is not None:
        try:
            taken = snapshot(runner.loop)
        except Exception:  # a debugging aid never breaks the report
            taken = None
        if taken is not None:
            by_id = {info.id: info for info in taken.tasks}
            return [(info.task, getattr(by_id.get(info.spawned_by), "task", None),
                     _label_of(info, by_id))
                    for info in taken.tasks if info.state != "done"]
    tasks = [task for task in asyncio.all_tasks(runner.loop) if not task.done()]
    return [(task, _spawned_by(task), _wait_of(task)) for task in tasks]


def _label_of(info, by_id) -> str:
    """A snapshot ``TaskInfo``'s wait, as ``_wait_of`` words it."""
    wait = info.wait
    if wait is None:
        return info.state  # "running" or "runnable"
    label = f"{wait.kind} {wait.target}".strip()
    holder = by_id.get(wait.holder)
    if holder is not None:
        label += f" (held by {holder.name})"
    if wait.deadline is not None:
        label += f" (until loop time {wait.deadline:g})"
    for filename, lineno, function in reversed(info.stack):
        if not filename.startswith(_LIBRARY_DIRS):
            where = f"{_short_path(filename)}:{lineno}"
            return label if os.path.basename(where) in label else \
                f"{label} at {where} in {function}"
    return label


def _task_order(task):
    return task.get_name()


def _spawned_by(task):
    spawned_by = getattr(task, "spawned_by", None)
    return spawned_by() if callable(spawned_by) else None


def _coro_name(task) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", type(coro).__name__) + "()"


def _wait_of(task) -> str:
    from ..debug import wait_reason  # late: the plugin loads with every pytest run

    waiting_on = getattr(task, "waiting_on", None)
    future = waiting_on() if callable(waiting_on) else None
    kind, target = wait_reason(task, future)
    where = _suspended_at(task)
    label = f"{kind} {target}".strip()
    # A plain future's target already says where the task awaits it.
    if not where or where.split(" in ")[0].rsplit(os.sep, 1)[-1] in target:
        return label
    return f"{label} at {where}"


def _suspended_at(task) -> str:
    try:
        frames = task.get_stack()
    except Exception:  # a debugging aid never breaks the report
        return ""
    for frame in reversed(frames):
        if not frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
            return (f"{_short_path(frame.f_code.co_filename)}:{frame.f_lineno}"
                    f" in {frame.f_code.co_name}")
    return ""


# -- pytest hooks: options, marker, collection ----------------------------------------

def pytest_addoption(parser) -> None:
    group = parser.getgroup("coroloop", "coroloop's loop for async tests")
    group.addoption("--coroloop-seed", type=int, default=None, metavar="N",
                    help="run every coroloop test under RandomOrder(N): a seeded "
                         "schedule that a failing test can be replayed with")
    group.addoption("--coroloop-explore", type=int, default=None, metavar="K",
                    help="run each coroloop test (function loop scope) under K "
                         "schedules, seeds N..N+K-1 (N: --coroloop-seed, default 0), "
                         "and report the failing seeds with their replay command")
    parser.addini("coroloop_mode", "strict (default): only tests marked "
                  "@pytest.mark.coroloop run on coroloop; auto: every async def test "
                  "no other async plugin claims", default="strict")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "coroloop(loop_scope='function', virtual_time=False, timeout=None, "
        "allow_pending=False): run this async test on coroloop's loop")
    mode = config.getini("coroloop_mode")
    if mode not in ("strict", "auto"):
        raise pytest.UsageError(f"coroloop_mode = {mode!r}: use 'strict' or 'auto'")
    explore = config.getoption("coroloop_explore")
    if explore is not None and explore < 1:
        raise pytest.UsageError(f"--coroloop-explore={explore}: give a number of runs >= 1")
    config.stash[_STATE] = _State(config)


def pytest_report_header(config) -> str:
    seed = config.getoption("coroloop_seed")
    explore = config.getoption("coroloop_explore")
    words = [f"mode={config.getini('coroloop_mode')}"]
    if explore:
        words.append(f"explore={explore} schedules from seed {seed or 0}")
    elif seed is not None:
        words.append(f"schedule=RandomOrder({seed})")
    return "coroloop: " + ", ".join(words)


def _coroloop_marker(item, config):
    """The item's coroloop marker; in auto mode an async test no other plugin
    claims gets one."""
    marker = item.get_closest_marker(MARK)
    if marker is not None:
        return marker
    if config.getini("coroloop_mode") != "auto":
        return None
    function = getattr(item, "function", None)
    if not inspect.iscoroutinefunction(function):
        return None
    if any(item.get_closest_marker(name) for name in _OTHER_PLUGINS_MARKS) \
            or "anyio_backend" in getattr(item, "fixturenames", ()):
        return None
    item.add_marker(MARK)
    return item.get_closest_marker(MARK)


_EXPLORE_SEED = "_coroloop_explore_seed"


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc) -> None:
    """--coroloop-explore: one item per schedule (fresh fixtures for each run)."""
    runs = metafunc.config.getoption("coroloop_explore")
    if not runs:
        return
    marker = _coroloop_marker(metafunc.definition, metafunc.config)
    if marker is None or marker.kwargs.get("loop_scope", "function") != "function":
        return  # a shared loop has one schedule for all its tests: run them once
    base = metafunc.config.getoption("coroloop_seed") or 0
    metafunc.fixturenames.append(_EXPLORE_SEED)
    seeds = list(range(base, base + runs))
    metafunc.parametrize(_EXPLORE_SEED, seeds, ids=[f"seed{seed}" for seed in seeds])


def pytest_collection_modifyitems(session, config, items) -> None:
    seed = config.getoption("coroloop_seed")
    for item in items:
        marker = _coroloop_marker(item, config)
        if marker is None:
            continue
        if not inspect.iscoroutinefunction(getattr(item, "function", None)) \
                and not any(mark.name == MARK for mark in item.own_markers):
            continue  # a plain test under a module's or class's coroloop mark
        if item.get_closest_marker("asyncio") is not None:
            raise pytest.UsageError(
                f"{item.nodeid} is marked both coroloop and asyncio (pytest-asyncio; in "
                "its auto mode every async test is): keep one of the two marks, or set "
                "asyncio_mode = strict")
        callspec = getattr(item, "callspec", None)
        item_seed = callspec.params.get(_EXPLORE_SEED, seed) if callspec else seed
        item.stash[_SETTINGS] = Settings.from_marker(item, marker, item_seed)


# -- running fixtures and tests ------------------------------------------------------

class _State:
    """The plugin's state in one pytest run: the runners by node, the item being set
    up or run, and which runner each async fixture value lives on."""

    def __init__(self, config) -> None:
        self.config = config
        self.runners: dict = {}                  # scope node -> LoopRunner
        self.item = None                         # the item in setup / call / teardown
        self.fixture_runner: dict = {}           # FixtureDef -> LoopRunner
        self.explored: dict = {}                 # replay nodeid -> [failing seeds]


_STATE = pytest.StashKey[_State]()


def _scope_node(item, scope):
    if scope == "function":
        return item
    if scope == "class":
        return item.getparent(pytest.Class) or item.getparent(pytest.Module)
    if scope == "module":
        return item.getparent(pytest.Module)
    if scope == "package":
        return item.getparent(pytest.Package) or item.session
    return item.session


def runner_for(item) -> LoopRunner:
    """The loop runner of *item*'s loop scope, created (and its closing scheduled at
    that node's teardown) on first use."""
    state = item.config.stash[_STATE]
    settings = settings_of(item)
    assert settings is not None  # both callers return early for tests not ours
    node = _scope_node(item, settings.loop_scope)
    runner = state.runners.get(node)
    if runner is None:
        runner = LoopRunner(settings.loop_scope, node, settings, item.nodeid)
        state.runners[node] = runner
        node.addfinalizer(lambda: _close_runner(state, node))
        return runner
    for what in ("virtual_time", "seed"):
        if getattr(runner, what) != getattr(settings, what):
            pytest.fail(
                f"{item.nodeid} asks for {what}={getattr(settings, what)!r}, but it shares "
                f"the {runner.scope}-scoped loop made for {runner.first_user} with "
                f"{what}={getattr(runner, what)!r}: tests sharing a loop "
                f"(loop_scope={runner.scope!r}) need the same {what}; set it once for all "
                "of them (a module's pytestmark, a class's mark)", pytrace=False)
    return runner


def _close_runner(state, node) -> None:
    __tracebackhide__ = True
    runner = state.runners.pop(node)
    for fixturedef, fixture_runner in list(state.fixture_runner.items()):
        if fixture_runner is runner:
            del state.fixture_runner[fixturedef]
    blamed = runner.close()
    if blamed:
        pytest.fail(f"{len(blamed)} task(s) still pending when the {runner.scope}-scoped "
                    "loop closed (they were cancelled):\n"
                    + "\n".join(f"  - {line}" for line in blamed), pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    state = item.config.stash[_STATE]
    state.item = item
    try:
        return (yield)
    finally:
        state.item = None


def _fixture_loop_scope(fixturedef) -> str | None:
    return getattr(fixturedef.func, "_coroloop_loop_scope", None)


# Outermost (tryfirst): the fixture function is swapped for a synchronous one before
# pytest-asyncio (auto mode) or pytest itself look at it.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef, request):
    func = fixturedef.func
    if not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
        return (yield)
    state = request.config.stash[_STATE]
    item = state.item
    settings = settings_of(item) if item is not None else None
    if settings is None:
        return (yield)  # not our test: pytest-asyncio, anyio or pytest's own error
    name = f"fixture {fixturedef.argname!r}"
    refusal = _loop_scope_refusal(name, fixturedef, item, settings)
    if refusal is None:
        try:
            runner = runner_for(item)
        except pytest.fail.Exception as exc:
            refusal = str(exc)
    if refusal is not None:
        # Failing inside the fixture function lets pytest cache the failure as its own.
        def synchronous(**kwargs):
            pytest.fail(refusal, pytrace=False)
    else:
        synchronous = _synchronous_fixture(func, request, runner, name,
                                           settings.allow_pending)
    fixturedef.func = synchronous
    try:
        result = yield
    finally:
        fixturedef.func = func
    if refusal is None:
        state.fixture_runner[fixturedef] = runner
    return result


def _loop_scope_refusal(name, fixturedef, item, settings) -> str | None:
    """Why *fixturedef* cannot run on *item*'s loop (None: it can)."""
    loop_scope = _fixture_loop_scope(fixturedef) or settings.loop_scope
    if loop_scope != settings.loop_scope:
        return (f"{name} runs on a {loop_scope}-scoped loop (loop_scope={loop_scope!r}) "
                f"but {item.name} runs on a {settings.loop_scope}-scoped one: an async "
                "fixture and the tests using it share one loop. Mark the test "
                f"@pytest.mark.coroloop(loop_scope={loop_scope!r}), or declare the "
                f"fixture with loop_scope={settings.loop_scope!r}")
    if SCOPES.index(fixturedef.scope) > SCOPES.index(loop_scope):
        return (f"{name} is {fixturedef.scope}-scoped but {item.name} runs on a "
                f"{loop_scope}-scoped loop, which closes before the fixture would: mark "
                f"the tests using it @pytest.mark.coroloop(loop_scope={fixturedef.scope!r}) "
                "(a module's pytestmark does it for all), or make the fixture "
                f"{loop_scope}-scoped")
    return None


def _synchronous_fixture(func, request, runner, name, allow_pending):
    """*func* (an async fixture function) as the synchronous function pytest calls:
    each part of it runs as a task on *runner*'s loop."""
    bound = _bind(func, request)
    if inspect.isasyncgenfunction(func):
        def synchronous(**kwargs):
            agen = bound(**kwargs)
            value = runner.run(agen.__anext__(), owner=name, allow_pending=allow_pending)
            yield value
            runner.run(_finish_async_generator(agen, name), owner=name,
                       allow_pending=allow_pending)
    else:
        def synchronous(**kwargs):
            return runner.run(bound(**kwargs), owner=name, allow_pending=allow_pending)
    return synchronous


def _bind(func, request):
    """The fixture function bound to the test's instance, as pytest would call it."""
    instance = request.instance
    self = getattr(func, "__self__", None)
    if instance is not None and self is not None and not isinstance(self, type) \
            and isinstance(instance, type(self)):
        return func.__func__.__get__(instance)
    return func


async def _finish_async_generator(agen, name):
    try:
        await agen.__anext__()
    except StopAsyncIteration:
        return
    await agen.aclose()
    raise RuntimeError(f"async generator {name} yielded twice: a fixture yields once")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    settings = settings_of(pyfuncitem)
    if settings is None:
        return None
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        pytest.fail(f"{pyfuncitem.nodeid} is marked coroloop but is not an "
                    "'async def' function", pytrace=False)
    state = pyfuncitem.config.stash[_STATE]
    runner = runner_for(pyfuncitem)
    # pytest-asyncio reads this mapping too; it is the closure pytest resolved.
    for argname, defs in pyfuncitem._fixtureinfo.name2fixturedefs.items():
        other = state.fixture_runner.get(defs[-1])
        if other is not None and other is not runner:
            pytest.fail(
                f"fixture {argname!r} was set up on the {other.scope}-scoped loop made for "
                f"{other.first_user}, but {pyfuncitem.name} runs on a {runner.scope}-scoped "
                "loop: give the tests sharing this fixture the same loop_scope",
                pytrace=False)
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    owner = pyfuncitem.name
    runner.run(function(**kwargs), owner=owner, allow_pending=settings.allow_pending,
               timeout=settings.timeout)
    left = runner.pending(owner=owner)
    if left and not settings.allow_pending:
        lines = [describe_task(runner, task) for task in left]
        runner.cancel_and_wait(left)
        pytest.fail(f"{owner} left {len(left)} task(s) pending (they were cancelled); a "
                    "test must finish the tasks it starts, or opt out with "
                    "@pytest.mark.coroloop(allow_pending=True):\n"
                    + "\n".join(f"  - {line}" for line in lines), pytrace=False)
    return True


# -- reporting seeds -----------------------------------------------------------------

def replay_command(item, seed: int) -> str:
    """The command line that runs *item* again under ``RandomOrder(seed)``."""
    nodeid = item.nodeid
    explored = f"seed{seed}"
    if nodeid.endswith(f"[{explored}]"):
        nodeid = nodeid[: -len(explored) - 2]
    elif nodeid.endswith(f"-{explored}]"):
        nodeid = nodeid[: -len(explored) - 2] + "]"
    return f"pytest {shlex.quote(nodeid)} --coroloop-seed={seed}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    settings = settings_of(item)
    if settings is not None and settings.seed is not None and report.failed:
        command = replay_command(item, settings.seed)
        report.sections.append(
            ("coroloop schedule", f"failed under RandomOrder({settings.seed}), "
                                  f"COROLOOP_SEED={settings.seed}; replay: {command}"))
        if _EXPLORE_SEED in getattr(getattr(item, "callspec", None), "params", {}):
            state = item.config.stash[_STATE]
            state.explored.setdefault(command.rsplit(" ", 1)[0], []).append(settings.seed)
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or not state.explored:
        return
    runs = config.getoption("coroloop_explore")
    terminalreporter.section("coroloop schedules")
    for command, seeds in state.explored.items():
        seeds = sorted(set(seeds))
        shown = ", ".join(map(str, seeds[:10])) + (", ..." if len(seeds) > 10 else "")
        terminalreporter.line(
            f"{shlex.split(command)[1]}: failed under {len(seeds)} of {runs} schedules "
            f"(seeds {shown}); replay: {command} --coroloop-seed={seeds[0]}")
