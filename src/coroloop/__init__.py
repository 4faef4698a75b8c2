"""coroloop: asyncio, written from scratch in Python.

Use it in place of asyncio (``import coroloop as asyncio``) or put its loop under
stdlib asyncio (``asyncio.run(main(), loop_factory=coroloop.new_event_loop)``).
"""

from __future__ import annotations

from . import _build

if _build.pure_requested():  # COROLOOP_PURE=1: the .py files even where compiled ones exist
    _build.force_pure()

import asyncio as _asyncio  # noqa: E402 (after the choice of build)
from asyncio.exceptions import (BrokenBarrierError, CancelledError, IncompleteReadError,
                                InvalidStateError, LimitOverrunError, SendfileNotAvailableError,
                                TimeoutError)
from asyncio.events import AbstractEventLoop, AbstractServer
from asyncio.protocols import (BaseProtocol, BufferedProtocol, DatagramProtocol, Protocol,
                               SubprocessProtocol)
from asyncio.transports import (BaseTransport, DatagramTransport, ReadTransport,
                                SubprocessTransport, Transport, WriteTransport)

from . import _bridge, streams, subprocess
from ._api.combinators import (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed,
                               gather, shield, wait, wait_for)
from ._api.eager import create_eager_task_factory, eager_task_factory
from ._api.locks import Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore
from ._api.policy import EventLoopPolicy, install
from ._api.queues import LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull, QueueShutDown
from ._api.runners import Runner, run
from ._api.taskgroups import TaskGroup, TaskGroupState
from ._api.timeouts import Timeout, TimeoutState, timeout, timeout_at
from ._core.clock import Clock, MonotonicClock
from ._core.coroutines import coroutine, iscoroutine, iscoroutinefunction
from ._core.futures import Future, isfuture
from ._core.handles import Handle, TimerHandle
from ._core.instrument import Instrument, StepRecord, add_loop_watcher, remove_loop_watcher
from ._core.loop import CoreEventLoop
from ._event_loop import EventLoop, new_event_loop
from ._net.tcp import Server
from .streams import (StreamReader, StreamReaderProtocol, StreamWriter, open_connection,
                      open_unix_connection, start_server, start_unix_server)
from .subprocess import create_subprocess_exec, create_subprocess_shell
from ._core.poller import Poller
from ._core.sleep import sleep
from ._core.tasks import Task, all_tasks, create_task, current_task, ensure_future
from ._core.threads import run_coroutine_threadsafe, to_thread, wrap_future

# asyncio's loop and policy class names, for code that names them.
SelectorEventLoop = EventLoop
BaseEventLoop = CoreEventLoop
# 3.14+: asyncio's policy class names warn when read (deprecated); see __getattr__.
_policy_names = {"AbstractEventLoopPolicy": _bridge.AbstractEventLoopPolicy,
                 "DefaultEventLoopPolicy": EventLoopPolicy}
if not _bridge.DEPRECATED_POLICY_NAMES:
    AbstractEventLoopPolicy = _bridge.AbstractEventLoopPolicy
    DefaultEventLoopPolicy = EventLoopPolicy

# asyncio exports these task-bookkeeping hooks for third-party Task classes; they
# are the shared ones, so such tasks are seen by current_task()/all_tasks().
_enter_task = _bridge.enter_task
_leave_task = _bridge.leave_task
_register_task = _bridge.register_task
_unregister_task = _bridge.unregister_task

get_running_loop = _bridge.get_running_loop
_get_running_loop = _bridge.get_running_loop_or_none
_set_running_loop = _bridge.set_running_loop
get_event_loop = _bridge.get_event_loop
set_event_loop = _bridge.set_event_loop
get_event_loop_policy = _bridge.get_event_loop_policy
set_event_loop_policy = _bridge.set_event_loop_policy



def _start_debug_mode_tools(loop):
    # Debug mode turns on coroloop.debug's tools.  The debug layer is built on this
    # package (it imports only the public API), so it is found by name when debug mode
    # first needs it, not imported here: no import cycle, nothing loaded otherwise.
    import importlib
    # Returns what stops the tools that last one run (or None).
    return importlib.import_module("coroloop.debug._debugmode").start(loop)


from ._core import instrument as _instrument  # noqa: E402

_instrument.set_debug_mode_tools(_start_debug_mode_tools)
del _instrument

__version__ = "0.1.0"

#: True when this coroloop runs its compiled modules (the Cython build of the same
#: sources), False for pure Python; ``python -m coroloop info`` lists the modules.
COMPILED = bool(_build.compiled_modules())

__all__ = [
    # loop and running (AbstractEventLoopPolicy and DefaultEventLoopPolicy: below)
    "AbstractEventLoop", "AbstractServer", "EventLoop",
    "EventLoopPolicy", "SelectorEventLoop", "BaseEventLoop",
    "Handle", "TimerHandle", "Runner", "run", "new_event_loop",
    "get_event_loop", "set_event_loop", "get_running_loop", "get_event_loop_policy",
    "set_event_loop_policy", "install",
    # futures and tasks
    "Future", "Task", "create_task", "current_task", "all_tasks", "ensure_future",
    "wrap_future", "run_coroutine_threadsafe", "to_thread", "sleep", "isfuture",
    "iscoroutine", "iscoroutinefunction", "coroutine",
    # combinators, timeouts, structured concurrency
    "gather", "wait", "wait_for", "as_completed", "shield", "FIRST_COMPLETED",
    "FIRST_EXCEPTION", "ALL_COMPLETED", "timeout", "timeout_at", "Timeout", "TaskGroup",
    "eager_task_factory", "create_eager_task_factory",
    # synchronization and queues
    "Lock", "Event", "Condition", "Semaphore", "BoundedSemaphore", "Barrier",
    "Queue", "PriorityQueue", "LifoQueue", "QueueEmpty", "QueueFull", "QueueShutDown",
    # networking and processes
    "Server", "StreamReader", "StreamWriter", "StreamReaderProtocol", "open_connection",
    "start_server", "open_unix_connection", "start_unix_server",
    "create_subprocess_exec", "create_subprocess_shell",
    # exceptions (shared with asyncio)
    "BrokenBarrierError", "CancelledError", "IncompleteReadError", "InvalidStateError",
    "LimitOverrunError", "SendfileNotAvailableError", "TimeoutError",
    # protocol and transport interfaces (shared with asyncio)
    "BaseProtocol", "BufferedProtocol", "DatagramProtocol", "Protocol", "SubprocessProtocol",
    "BaseTransport", "DatagramTransport", "ReadTransport", "SubprocessTransport",
    "Transport", "WriteTransport",
    # coroloop's own
    "Clock", "MonotonicClock", "Poller", "Instrument", "StepRecord", "add_loop_watcher", "remove_loop_watcher", "TimeoutState", "TaskGroupState",
]
# As in asyncio: listed up to 3.13; from 3.14 reading them warns, so they are not.
__all__ += [name for name in _policy_names if name not in _bridge.DEPRECATED_POLICY_NAMES]


if _bridge.DEPRECATED_POLICY_NAMES:
    # Only where needed (3.14+): a module __getattr__ keeps CPython from specializing
    # attribute reads on the module (every `coroloop.sleep`), as it does for asyncio's
    # own deprecation __getattr__ on those versions.
    def __getattr__(name):
        # Only reached for names not in the module: the deprecated policy names.
        if name in _bridge.DEPRECATED_POLICY_NAMES:
            _bridge.warn_deprecated(name, "; instead of a policy, pass loop_factory="
                                    "coroloop.new_event_loop to asyncio.run() or "
                                    "asyncio.Runner")
            return _policy_names[name]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


del _asyncio

# -- the monitor endpoint (issue 10): COROLOOP_MONITOR=1 (or =cancel) serves every loop
# this process creates, for python -m coroloop ps/pstree/top/dump/cancel PID.
import os as _os
import sys as _sys

# Named by module path and imported only then: the debug layer sits above this one.
if not _sys.flags.ignore_environment and \
        _os.environ.get("COROLOOP_MONITOR", "").strip() not in ("", "0"):
    import importlib as _importlib
    _importlib.import_module("coroloop.debug.endpoint").serve_from_environment(
        _os.environ["COROLOOP_MONITOR"])
    del _importlib
del _os, _sys
# -- end of the monitor endpoint
