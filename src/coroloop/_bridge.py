"""Everything that touches the standard library's private asyncio bookkeeping.

coroloop shares asyncio's notion of "the running loop", "the current task" and
"all tasks", so that code written against stdlib asyncio (``asyncio.current_task()``,
``asyncio.timeout()``, anyio, aiohttp, ...) sees coroloop's loop and tasks, and so
that coroloop's tasks work on a stdlib loop.  CPython keeps that state in private
functions of ``asyncio.events`` / ``asyncio.tasks`` whose set changed in 3.12 (eager
tasks) and again in 3.14 (the C runtime keeps the running task per thread and lists
the tasks itself; the policy system is deprecated).  This module is the only place
that names them; every version difference of the rest of coroloop is gated here too,
as a named constant (``tests/unit/test_layering.py`` holds both rules).
"""

from __future__ import annotations

import asyncio.events as _events
import asyncio.futures as _futures
import asyncio.tasks as _tasks
import sys
import weakref as _weakref
from typing import Any

# Names typeshed does not list (private to asyncio, or only on some versions) are read
# with getattr(), once at import: the type checker sees Any there and checks the rest.
# The task bookkeeping functions are typed Any too: they take and return coroloop's
# tasks, which are asyncio.Tasks for isinstance() (their twin class) but not for a type
# checker, which knows only subclassing.

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)
PY314 = sys.version_info >= (3, 14)
PY315 = sys.version_info >= (3, 15)

# -- running loop (C-accelerated, same on every supported version) ----------------
get_running_loop = _events.get_running_loop
get_running_loop_or_none = _events._get_running_loop
set_running_loop = _events._set_running_loop

# -- current task ------------------------------------------------------------------
# 3.14: the C runtime keeps the running task in the thread state, beside the running
# loop (_enter_task/_leave_task require the loop to be the thread's running loop),
# and asyncio.current_task() reads it there; 3.11-3.13 keep a {loop: task} dict.
CURRENT_TASK_KEPT_PER_THREAD = PY314
current_task: Any = _tasks.current_task
if CURRENT_TASK_KEPT_PER_THREAD:
    # C: for the running loop, one read of the thread state.
    current_task_of: Any = current_task
else:
    # current_task_of(loop): the same answer without the argument handling; on 3.11
    # asyncio.current_task is a Python function, but the dict behind it (shared with
    # the C _enter_task/_leave_task) is there on 3.11-3.13.
    current_task_of = getattr(_tasks, "_current_tasks").get
enter_task: Any = _tasks._enter_task
leave_task: Any = _tasks._leave_task

if PY312:
    swap_current_task = getattr(_tasks, "_swap_current_task")
else:
    def swap_current_task(loop, task):
        """Make *task* (or None) the current task of *loop*; return the previous one.

        3.11 has no primitive for this; eager task starts need it.
        """
        prev = current_task(loop)
        if prev is not None:
            leave_task(loop, prev)
        if task is not None:
            enter_task(loop, task)
        return prev

# -- all tasks ---------------------------------------------------------------------
register_task: Any = _tasks._register_task

# asyncio.all_tasks() reads a WeakSet for tasks that are not asyncio.Task instances
# (3.11: tasks._all_tasks; 3.12/3.13: tasks._scheduled_tasks; 3.14+: a WeakSet in
# the C module's state, beside its own linked list of asyncio.Task objects).
# Registering through register_task() costs two Python calls per task (WeakSet.add,
# and its removal callback when the task dies).  coroloop adds the weak reference to
# the set underneath itself: tasks do
#     TASK_REGISTRY_ADD(weakref.ref(task, TASK_REGISTRY_DISCARD))
# which is WeakSet.add without its Python frame.
#
# The callback is the set's C discard, so there is no Python frame at either end.
# 3.11-3.13: the one thing WeakSet's own callback adds -- deferring removals while the
# set is being iterated -- is covered by asyncio.all_tasks(), which retries its copy
# of the set when it changed size meanwhile (as it must for threads anyway).
# 3.14+: WeakSet iterates over a copy of its set (made in one C call) and its own
# callback is a plain discard, so nothing is lost either.
# 3.14's set lives in the C module's state: it is found once, by registering a probe
# object and looking for it among the module's references (gc.get_referents), then
# unregistering it; if that ever fails, tasks go through register_task(), which is
# always right.


class _RegistryProbe:
    """A weak-referenceable stand-in for a task, to find asyncio's registry."""


def _find_foreign_task_registry():
    """The WeakSet in which asyncio.all_tasks() finds non-asyncio.Task tasks, or None."""
    if not PY314:
        registry = getattr(_tasks, "_scheduled_tasks" if PY312 else "_all_tasks", None)
        return registry if type(registry) is _weakref.WeakSet else None
    c_module = sys.modules.get("_asyncio")
    if c_module is None or _tasks._register_task is not getattr(
            c_module, "_register_task", None):
        # Pure-Python asyncio: its own module-level set.
        registry = getattr(_tasks, "_scheduled_tasks", None)
        return registry if type(registry) is _weakref.WeakSet else None
    import gc
    probe = _RegistryProbe()
    _tasks._register_task(probe)
    try:
        for candidate in gc.get_referents(c_module):
            if type(candidate) is _weakref.WeakSet and probe in candidate:
                return candidate
        return None
    finally:
        _tasks._unregister_task(probe)


_weak_registry = _find_foreign_task_registry()
if _weak_registry is None:  # use register_task()
    TASK_REGISTRY_ADD = TASK_REGISTRY_DISCARD = None
else:
    TASK_REGISTRY_ADD = _weak_registry.data.add
    TASK_REGISTRY_DISCARD = _weak_registry.data.discard
unregister_task: Any = _tasks._unregister_task
all_tasks: Any = _tasks.all_tasks

if PY312:
    register_eager_task = getattr(_tasks, "_register_eager_task")
    _unregister_eager_task = getattr(_tasks, "_unregister_eager_task")

    def finish_eager_registration(task, still_pending):
        """After an eager first step: move a still-pending task to the main registry."""
        _unregister_eager_task(task)
        if still_pending:
            if TASK_REGISTRY_ADD is not None:  # register_task() without its frames
                TASK_REGISTRY_ADD(_weakref.ref(task, TASK_REGISTRY_DISCARD))
            else:
                register_task(task)
else:
    # 3.11 has one (weak) registry: an eager task is registered once, before its
    # first step, and stays there like any other task.
    register_eager_task = register_task

    def finish_eager_registration(task, still_pending):
        pass

# >>> snap10: loop_tasks() (coroloop.all_tasks())
# asyncio.all_tasks(loop) makes three Python calls per task of the process
# (WeakSet's iterator, futures._get_loop(), done()): 3,000 instructions a task, a
# tenth of the stall of a snapshot, which starts from it.  Where asyncio's registries
# are the weak set found above plus, from 3.12, the set of eager tasks (3.11-3.13),
# loop_tasks() reads them directly and checks a coroloop task's loop and state by
# its fields; any other task (a stdlib one) still by futures._get_loop() and done().
# 3.14+ keeps asyncio.Task objects in a C list only all_tasks() reads: it is used.
_LOOP_TASKS_FROM_REGISTRY = _weak_registry is not None and not PY314
_eager_registry: Any = getattr(_tasks, "_eager_tasks", ()) if PY312 else ()


def loop_tasks(loop, native_task, pending) -> set:
    """What asyncio.all_tasks(*loop*) returns (*native_task*: coroloop's Task class,
    whose ``_loop`` and ``_state`` are read directly; *pending*: its pending state)."""
    if not _LOOP_TASKS_FROM_REGISTRY:
        return all_tasks(loop)
    if loop is None:
        loop = _events.get_running_loop()
    for attempt in range(1000):  # as all_tasks(): another thread may change the sets
        try:
            eager = list(_eager_registry)
            refs = list(_weak_registry.data)
            break
        except RuntimeError:
            if attempt == 999:
                raise
    found: set = set()
    add = found.add
    get_loop: Any = getattr(_futures, "_get_loop")  # what all_tasks() asks each task
    for ref in refs:
        task = ref()
        if type(task) is native_task:  # not __class__: it may stand for asyncio's
            if task._loop is loop and task._state is pending:
                add(task)
        elif task is not None and get_loop(task) is loop and not task.done():
            add(task)
    for task in eager:
        if get_loop(task) is loop and not task.done():
            add(task)
    return found
# <<< snap10: loop_tasks()


# -- run_until_complete()'s done callback --------------------------------------------
# anyio's find_root_task() recognises the task run_until_complete() drives by this
# function among the task's callbacks, so coroloop's loop adds this very function.
import asyncio.base_events as _base_events  # noqa: E402

RUN_UNTIL_COMPLETE_CALLBACK = getattr(_base_events, "_run_until_complete_cb")

# -- policies ----------------------------------------------------------------------
# 3.14 deprecates the policy system (gh-127949; removal planned for 3.16): calling
# get_event_loop_policy()/set_event_loop_policy() warns, and so does reading
# AbstractEventLoopPolicy or DefaultEventLoopPolicy from the asyncio module (they
# moved behind a deprecation __getattr__).  asyncio's own code uses private twins
# that do not warn; so does coroloop's (policy(), install_policy(), the classes
# below), while coroloop's public get/set_event_loop_policy are asyncio's, warnings
# included.  Also 3.14: get_event_loop() no longer creates a loop when there is none.
POLICIES_DEPRECATED = PY314
#: Module attributes that warn when read on this version (see coroloop.__getattr__).
DEPRECATED_POLICY_NAMES = (
    ("AbstractEventLoopPolicy", "DefaultEventLoopPolicy") if POLICIES_DEPRECATED else ())
get_event_loop_policy = _events.get_event_loop_policy
set_event_loop_policy = _events.set_event_loop_policy
get_event_loop = _events.get_event_loop
set_event_loop = _events.set_event_loop

import asyncio as _asyncio  # noqa: E402

if POLICIES_DEPRECATED:
    policy = getattr(_events, "_get_event_loop_policy")
    install_policy = getattr(_events, "_set_event_loop_policy")
    AbstractEventLoopPolicy = getattr(_events, "_AbstractEventLoopPolicy")
    if sys.platform == "win32":
        import asyncio.windows_events as _platform_events
    else:
        import asyncio.unix_events as _platform_events
    DefaultEventLoopPolicy = getattr(_platform_events, "_DefaultEventLoopPolicy")
else:
    policy = get_event_loop_policy
    install_policy = set_event_loop_policy
    AbstractEventLoopPolicy = _events.AbstractEventLoopPolicy
    DefaultEventLoopPolicy = _asyncio.DefaultEventLoopPolicy


def warn_deprecated(name, hint="", *, stacklevel=3):
    """The DeprecationWarning asyncio gives for *name* (3.14+), in its words, then
    *hint*; by default it points at the caller of the function that calls this."""
    import warnings
    warnings.warn(f"'asyncio.{name}' is deprecated and slated for removal in Python "
                  f"3.16{hint}", DeprecationWarning, stacklevel=stacklevel)


# -- TaskGroup ---------------------------------------------------------------------
# (3.14's TaskGroup.create_task(coro, **kwargs): CREATE_TASK_PASSES_ANY_KEYWORD.)
# 3.14: a child that finished inside create_task() (eagerly) is reported through its
# done callback, not at once, so its failure cannot cancel the body before
# create_task() returned (gh-128550).
TASKGROUP_EAGER_CHILDREN_REPORTED_BY_CALLBACK = PY314
# 3.15: a child created while the group is already aborting (it cancelled or failed
# the group in its eager first step) is cancelled too (gh-155418); coroloop does it
# on every version when the abort came from its TaskGroup.cancel().
TASKGROUP_CANCELS_LATE_JOINERS = PY315
# 3.15: a lone GeneratorExit out of the body is re-raised as it is, so that an async
# generator holding a TaskGroup can be closed (gh-135736); before, it is grouped.
TASKGROUP_LETS_GENERATOR_EXIT_THROUGH = PY315

# -- wrap_future() / run_coroutine_threadsafe() -----------------------------------------
# 3.14: a chained future's callback acts on the other future directly when that
# future's loop is the one running in the callback's thread (else through
# call_soon_threadsafe); 3.11-3.13 act directly only when both share a loop.
CHAIN_FUTURE_CALLS_DIRECTLY_ON_RUNNING_LOOP = PY314

# -- servers and subprocesses (networking layer) -----------------------------------
# 3.14: Server.serve_forever() cancelled closes the connections too (close_clients()),
# so that wait_closed() cannot hang on a client that never leaves.
SERVE_FOREVER_CANCEL_CLOSES_CLIENTS = PY314
# 3.14: Process.wait() returns once the child has exited, even if its pipes stay open
# (a grandchild inherited them); 3.11-3.13 also wait for the pipes (gh-119710).
PROCESS_WAIT_RETURNS_AT_EXIT = PY314

# 3.14: ssl_shutdown_timeout also bounds the raw transport's final flush after the TLS
# session ended (by our close_notify exchange or the peer's EOF): a peer that stops
# reading cannot keep the connection open for ever.
TLS_SHUTDOWN_TIMEOUT_COVERS_FLUSH = PY314

# -- Runner.run() --------------------------------------------------------------------
# 3.14 runs any awaitable (a Future, an object with __await__), wrapped in a coroutine,
# and refuses anything else with TypeError once the loop exists; 3.11-3.13 accept
# coroutines only (ValueError, checked first).
RUNNER_RUNS_AWAITABLES = PY314

# -- iscoroutinefunction() ------------------------------------------------------------
# 3.14 deprecates asyncio.iscoroutinefunction (gh-122875) in favour of
# inspect.iscoroutinefunction; coroloop's own checks use the quiet predicate.
ISCOROUTINEFUNCTION_DEPRECATED = PY314


# Does loop.create_task() / Task() accept eager_start=? (3.12+)
TASK_ACCEPTS_EAGER_START = PY312
# 3.14: create_task(coro, **kwargs) -- loop.create_task() and asyncio.create_task()
# pass every keyword argument to the task factory (name= included: the factory
# names the task, asyncio no longer calls set_name() after it) or to Task()
# (gh-128307); so does TaskGroup.create_task().  3.11-3.13 pass context= only and
# call set_name() afterwards, and TaskGroup.create_task() takes name=/context=.
CREATE_TASK_PASSES_ANY_KEYWORD = PY314

# -- Future/Task construction (3.15) --------------------------------------------------
# 3.15: calling __init__() again on a future or task raises RuntimeError("... object
# is already initialized"), and Task() refuses a context that is not a
# contextvars.Context with TypeError (gh-157301) instead of failing at its first step.
FUTURE_INIT_ONCE = PY315
TASK_CHECKS_CONTEXT_TYPE = PY315

# -- shield() -------------------------------------------------------------------------
# The inner operation finishes in the iteration its shield() was cancelled in (so the
# inner done callback still runs): 3.11-3.13 mark its exception retrieved, so nobody
# ever hears of it; 3.14 leaves it unretrieved, reported when the inner future is
# collected if nobody looked at it, like any other future (gh-156321, 3.14.9; 3.14.0-
# 3.14.8 reported it at once even if it was retrieved later, a regression coroloop does
# not copy: docs/migrating.md).
SHIELD_MARKS_ABANDONED_OUTCOME_RETRIEVED = not PY314

# -- Future.set_exception(StopIteration) -------------------------------------------
# 3.11/3.12 refuse it with TypeError; 3.13 stores a RuntimeError caused by it.
STOP_ITERATION_BECOMES_RUNTIME_ERROR = PY313

# -- task names ---------------------------------------------------------------------
# 3.11/3.12: asyncio.create_task(coro, name=...) and TaskGroup.create_task(...) make
# the task unnamed and set the name afterwards, so a named task still uses up a
# Task-N number (and an eager first step runs under it).  3.13 passes the name on.
NAMED_TASKS_USE_UP_A_NUMBER = not PY313

# -- wait_for() ---------------------------------------------------------------------
# 3.12 rewrote wait_for() on asyncio.timeout(): the awaitable runs in the caller's
# task.  3.11 wraps it in a task of its own and waits for it with a timer.
WAIT_FOR_USES_TIMEOUT = PY312

# -- gather() -----------------------------------------------------------------------
# 3.12 accounts for children that are already done when gather() is called at once;
# 3.11 adds a done callback to them too, which runs an iteration later.
GATHER_TAKES_DONE_CHILDREN_AT_ONCE = PY312

# -- TaskGroup ---------------------------------------------------------------------
# 3.13 (gh-116720): the group withdraws its cancel() of the parent after the
# children are done, not before, and re-arms a cancellation from outside when it
# raises the children's errors.
TASKGROUP_UNCANCELS_AFTER_CHILDREN = PY313

# -- Unix servers -------------------------------------------------------------------
# 3.13 removes a Unix server's socket file when the server closes (cleanup_socket,
# gh-111246); before, asyncio leaves it in place.
UNIX_SERVER_REMOVES_SOCKET_FILE = PY313

# -- Task.uncancel() ----------------------------------------------------------------
# 3.13: when the count of cancellation requests drops to zero, a cancellation
# that was requested but not yet delivered is withdrawn too.
UNCANCEL_CLEARS_PENDING_CANCEL = PY313

# -- wait_for(non-awaitable, timeout) -----------------------------------------------
# 3.11 passes its argument to ensure_future() first ("An asyncio.Future, a coroutine
# or an awaitable is required"); 3.12+ awaits it ("object int can't be used in
# 'await' expression").
WAIT_FOR_CHECKS_AWAITABLE_FIRST = not PY312

# -- Process.communicate(input) without stdin=PIPE ---------------------------------
# 3.11 fails (AttributeError, writing to the missing pipe); 3.12+ ignores the input.
COMMUNICATE_INPUT_NEEDS_STDIN_PIPE = not PY312

# -- create_datagram_endpoint(sock=<not a datagram socket>) -------------------------
DATAGRAM_SOCKET_EXPECTED = ("A datagram socket was expected" if PY313
                            else "A UDP Socket was expected")

# -- create_server() bind error ------------------------------------------------------
# 3.13 shows the whole OSError ("[errno 98] address already in use"), lower-cased;
# 3.11/3.12 its strerror only.
BIND_ERROR_SHOWS_WHOLE_ERROR = PY313

# -- QueueShutDown ------------------------------------------------------------------
# Shared with asyncio where asyncio has it (3.13+), so `except asyncio.QueueShutDown`
# catches coroloop's; on 3.11/3.12 asyncio has no such class and coroloop defines it.
# (Spelled as a version test, not PY313: the type checker then knows which class it is.)
if sys.version_info >= (3, 13):
    QueueShutDown = _asyncio.QueueShutDown
else:
    class QueueShutDown(Exception):
        """Raised when putting on to or getting from a shut-down Queue."""

# -- call_soon_threadsafe() -----------------------------------------------------------
# asyncio 3.14 (and 3.13.1+) returns an events._ThreadSafeHandle, whose cancel() and
# cancelled() take a lock that is held while the callback runs (gh-128340); the
# earlier versions return a plain Handle.
THREAD_SAFE_HANDLE_CLASS: Any = getattr(_events, "_ThreadSafeHandle", None)

# -- messages that changed ------------------------------------------------------------
# 3.14: a stream socket transport's write() says which types it takes, and
# asyncio.Barrier() states its bound the other way round.
STREAM_WRITE_TYPE_ERROR = (
    "data argument must be a bytes, bytearray, or memoryview object, not {!r}" if PY314
    else "data argument must be a bytes-like object, not {!r}")
BARRIER_PARTIES_ERROR = "parties must be >= 1" if PY314 else "parties must be > 0"

# -- Handle.__repr__ ----------------------------------------------------------------
# 3.13 shows a callback's arguments only in debug mode.
HANDLE_REPR_ARGS_ONLY_IN_DEBUG = PY313

# -- Transport.writelines() with a non-bytes item -----------------------------------
# 3.11 joins the items (its TypeError is b"".join's); 3.12+ buffers a memoryview of
# each (its TypeError is memoryview()'s).
WRITELINES_TAKES_MEMORYVIEWS = PY312

# -- sleep(nan) ---------------------------------------------------------------------
# 3.13 raises ValueError (gh-105331); 3.11/3.12 treat the NaN delay as a timer that
# is due at once, like any NaN deadline (see _core/loop.py, "Deadlines").
SLEEP_REJECTS_NAN = PY313

# -- as_completed() -----------------------------------------------------------------
# 3.13 checks its argument when called; 3.11/3.12 at the first iteration.
AS_COMPLETED_CHECKS_ARGUMENTS_AT_CALL = PY313

# -- iscoroutine() ------------------------------------------------------------------
# 3.11 still counts plain generator objects as coroutines (a leftover of the removed
# @asyncio.coroutine): Task, ensure_future and gather accept them there.
ISCOROUTINE_ACCEPTS_GENERATORS = not PY312


# -- other private attributes of the standard library --------------------------------

# -- sys.last_exc ---------------------------------------------------------------------
# 3.12 added sys.last_exc, which the REPL sets with last_type/last_value/last_traceback.
SYS_HAS_LAST_EXC = PY312


def subprocess_transport_wait(transport):
    """An awaitable for a subprocess transport's exit.

    coroloop's SubprocessTransport has a public ``wait()``; asyncio's (on a stdlib
    loop) only the private ``_wait()`` that asyncio.subprocess itself calls.
    """
    wait = getattr(transport, "wait", None)
    return wait() if wait is not None else transport._wait()


def take_unread_of_asyncio_stream(protocol) -> bytes:
    """The bytes an asyncio ``StreamReaderProtocol`` received and nobody read, taken
    out of its reader (asyncio's private ``_stream_reader._buffer``); b'' for any
    other protocol.  start_tls() on a server needs them (gh-142352)."""
    if isinstance(protocol, _asyncio.StreamReaderProtocol):
        buffer = getattr(protocol._stream_reader, "_buffer", None)  # type: ignore[attr-defined]  # asyncio's private reader
        if isinstance(buffer, bytearray) and buffer:
            data = bytes(buffer)
            buffer.clear()
            return data
    return b""


def popen_waitpid_lock(popen):
    """The lock ``subprocess.Popen`` holds around its own waitpid() and storing the
    status (a private attribute; None where a Popen has none)."""
    return getattr(popen, "_waitpid_lock", None)


def new_loop_from_policy(default):
    """A loop for Runner/run() without loop_factory.

    asyncio asks the event-loop policy.  coroloop does the same when a policy has
    been installed (coroloop.install(), uvloop's, a test's), and otherwise uses
    *default* (coroloop's loop) rather than the stdlib's default policy.
    """
    current = policy()
    if type(current) is DefaultEventLoopPolicy:
        return default()
    return current.new_event_loop()


# -- introspection for coroloop.debug ------------------------------------------------
# A stdlib task's awaited future is asyncio's private ``_fut_waiter`` (coroloop's tasks
# say it with ``waiting_on()``); read here, once, for the debugging tools.
def awaited_future(task):
    """The future *task* (coroloop's or asyncio's) is suspended on, or None."""
    try:
        return task.waiting_on()
    except AttributeError:
        return getattr(task, "_fut_waiter", None)


def current_task_or_none(loop):
    """The task running on *loop* now (from any thread on 3.11-3.13; 3.14 keeps it
    per thread, so from another thread it is None there)."""
    try:
        return current_task(loop)
    except RuntimeError:
        return None


# 3.14 added explicit "awaited by" links between futures, which asyncio's gather and
# TaskGroup keep and asyncio.capture_call_graph() reads from ``_asyncio_awaited_by``
# (asyncio's C functions ignore futures that are not its own).  coroloop's futures
# keep the same links on every version: the ones made with these functions, plus the
# tasks waiting on the future (derived from its callbacks, so the hot path pays
# nothing for them).
AWAITED_BY_LINKS = PY314
# asyncio's own functions (3.14+) for its own futures; ours for coroloop's.
_asyncio_add_awaited_by = getattr(_futures, "future_add_to_awaited_by", None)
_asyncio_discard_awaited_by = getattr(_futures, "future_discard_from_awaited_by", None)


def future_add_to_awaited_by(fut, waiter) -> None:
    """Record that *waiter* (a future) awaits *fut* (any future; a no-op for other
    implementations' futures without asyncio's function)."""
    links = getattr(type(fut), "_add_awaited_by", None)
    if links is not None:
        links(fut, waiter)
    elif _asyncio_add_awaited_by is not None:
        _asyncio_add_awaited_by(fut, waiter)


def future_discard_from_awaited_by(fut, waiter) -> None:
    """Undo ``future_add_to_awaited_by(fut, waiter)``."""
    links = getattr(type(fut), "_discard_awaited_by", None)
    if links is not None:
        links(fut, waiter)
    elif _asyncio_discard_awaited_by is not None:
        _asyncio_discard_awaited_by(fut, waiter)
