"""Everything that touches the standard library's private asyncio bookkeeping.

coroloop shares asyncio's notion of "the running loop", "the current task" and
"all tasks", so that code written against stdlib asyncio (``asyncio.current_task()``,
``asyncio.timeout()``, anyio, aiohttp, ...) sees coroloop's loop and tasks, and so
that coroloop's tasks work on a stdlib loop.  CPython keeps that state in private
functions of ``asyncio.events`` / ``asyncio.tasks`` whose set changed in 3.12 (eager
tasks) and again in 3.14.  This module is the only place that names them; every
version difference of the rest of coroloop is gated here too.
"""

from __future__ import annotations

import asyncio.events as _events
import asyncio.tasks as _tasks
import sys
import weakref as _weakref

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)

# -- running loop (C-accelerated, same on every supported version) ----------------
get_running_loop = _events.get_running_loop
get_running_loop_or_none = _events._get_running_loop
set_running_loop = _events._set_running_loop

# -- current task ------------------------------------------------------------------
current_task = _tasks.current_task
# current_task_of(loop): the same answer without the argument handling; on 3.11
# asyncio.current_task is a Python function, but the dict behind it (shared with
# the C _enter_task/_leave_task) is there on 3.11-3.13.
current_task_of = _tasks._current_tasks.get
enter_task = _tasks._enter_task
leave_task = _tasks._leave_task

if PY312:
    swap_current_task = _tasks._swap_current_task
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
register_task = _tasks._register_task

# asyncio.all_tasks() reads a WeakSet (3.11: _all_tasks; 3.12/3.13: _scheduled_tasks).
# Registering through it costs two Python calls per task (WeakSet.add, and its
# removal callback when the task dies).  coroloop adds the weak reference to the set
# underneath itself, with the set's C discard as the callback: no Python frame at
# either end.  The one thing WeakSet's own callback adds -- deferring removals while
# the set is being iterated -- is covered by asyncio.all_tasks(), which retries its
# copy of the set when it changed size meanwhile (as it must for threads anyway).
_weak_registry = getattr(_tasks, "_scheduled_tasks" if PY312 else "_all_tasks", None)
if type(_weak_registry) is _weakref.WeakSet:
    TASK_REGISTRY_ADD = _weak_registry.data.add
    TASK_REGISTRY_DISCARD = _weak_registry.data.discard
else:  # an asyncio whose registry is not a WeakSet (3.14+): use register_task()
    TASK_REGISTRY_ADD = TASK_REGISTRY_DISCARD = None
unregister_task = _tasks._unregister_task
all_tasks = _tasks.all_tasks

if PY312:
    register_eager_task = _tasks._register_eager_task
    _unregister_eager_task = _tasks._unregister_eager_task

    def finish_eager_registration(task, still_pending):
        """After an eager first step: move a still-pending task to the main registry."""
        _unregister_eager_task(task)
        if still_pending:
            register_task(task)
else:
    # 3.11 has one (weak) registry: an eager task is registered once, before its
    # first step, and stays there like any other task.
    register_eager_task = register_task

    def finish_eager_registration(task, still_pending):
        pass

# -- run_until_complete()'s done callback --------------------------------------------
# anyio's find_root_task() recognises the task run_until_complete() drives by this
# function among the task's callbacks, so coroloop's loop adds this very function.
import asyncio.base_events as _base_events  # noqa: E402

RUN_UNTIL_COMPLETE_CALLBACK = _base_events._run_until_complete_cb

# -- policies ----------------------------------------------------------------------
get_event_loop_policy = _events.get_event_loop_policy
set_event_loop_policy = _events.set_event_loop_policy
get_event_loop = _events.get_event_loop
set_event_loop = _events.set_event_loop
DefaultEventLoopPolicy = _events.DefaultEventLoopPolicy if hasattr(_events, "DefaultEventLoopPolicy") else None

import asyncio as _asyncio  # noqa: E402

if DefaultEventLoopPolicy is None:
    DefaultEventLoopPolicy = _asyncio.DefaultEventLoopPolicy

# Does loop.create_task() / Task() accept eager_start=? (3.12+)
TASK_ACCEPTS_EAGER_START = PY312

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
if PY313:
    QueueShutDown = _asyncio.QueueShutDown
else:
    class QueueShutDown(Exception):
        """Raised when putting on to or getting from a shut-down Queue."""

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


def new_loop_from_policy(default):
    """A loop for Runner/run() without loop_factory.

    asyncio asks the event-loop policy.  coroloop does the same when a policy has
    been installed (coroloop.install(), uvloop's, a test's), and otherwise uses
    *default* (coroloop's loop) rather than the stdlib's default policy.
    """
    policy = get_event_loop_policy()
    if type(policy) is DefaultEventLoopPolicy:
        return default()
    return policy.new_event_loop()
