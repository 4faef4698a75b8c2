"""What the conformance run runs: which CPython test modules, bound how, grouped how.

CPython parameterizes most of ``test.test_asyncio`` by implementation: a mixin such as
``BaseTaskTests`` holds the test bodies and concrete classes (``CTask_CFuture_Tests``,
``PyTask_PyFuture_Tests``, ...) bind it to the C or the Python Task/Future.  We do the
same thing once more: ``bind_<module>()`` below creates concrete classes that bind the
mixins to the *target* (coroloop, or asyncio itself when validating the harness), and
``DROP`` names the stdlib's own parameterizations, which are not run at all (they test
CPython's implementations, not ours).  Every other ``TestCase`` defined in a module runs
as-is, with the module's ``asyncio`` global replaced by a view whose public names are
the target's (see ``run.py``).

Which loop a test gets:

* Every ``test_utils.TestCase`` gets the target's loop from ``new_test_loop()``
  (``run.py`` patches it), except when the test passes a virtual-time generator
  (``new_test_loop(gen)``): that protocol is tied to the stdlib ``TestLoop``
  (``BaseEventLoop._run_once``), so those tests keep ``TestLoop``.
* ``*_TargetLoop`` bindings: the target's loop; tests that need the generator are
  *skipped* there because they run in the ``*_TestLoop`` twin.
* ``*_TestLoop`` bindings: CPython's ``test_utils.TestLoop`` (a stdlib
  ``BaseEventLoop`` with virtual time) with the target's Task and Future: it checks
  them on a foreign loop, which DESIGN.md requires to work.
* Modules' own classes that build a stdlib loop themselves (``asyncio.BaseEventLoop()``
  with mocks, in test_runners and test_pep492) run as they are (the target's
  run()/Runner/Task on a stdlib loop) and get a ``*_TargetLoop`` twin as well.

Sets group test ids by the issue that delivers the feature; ``run.py`` gates the exit
status on the enforced sets.
"""

from __future__ import annotations

import fnmatch
import sys
import unittest

# -- sets ---------------------------------------------------------------------------

#: name -> (required pass percentage, enforced?)  An unenforced set is reported but
#: does not change the exit status (flip it when its issue lands).
SETS = {
    "issue2": (98.0, True),     # core: Future, Task, sleep, run/Runner, threads, context
    "issue3": (98.0, True),     # combinators, timeouts, TaskGroup, locks, queues
    "eager": (98.0, True),      # eager task factory (3.12+)
    "net": (95.0, True),        # streams, networking, subprocesses (issue 4)
    # 3.14's call graph: asyncio.capture_call_graph() & co. on the target's tasks, and
    # the awaited-by bookkeeping (Future._asyncio_awaited_by) behind it (issue 9's
    # call-graph item); its tests exist on 3.14+ only.
    "callgraph": (98.0, True),
}

#: Modules each set needs loaded.
SET_MODULES = {
    "issue2": ["test_futures", "test_futures2", "test_tasks", "test_runners",
               "test_context", "test_pep492", "test_threads"],
    "issue3": ["test_tasks", "test_locks", "test_queues", "test_timeouts",
               "test_taskgroups", "test_waitfor", "test_pep492"],
    "eager": ["test_eager_task_factory"],
    "net": ["test_pep492", "test_events", "test_sock_lowlevel", "test_sendfile",
            "test_streams", "test_server", "test_buffered_proto", "test_subprocess",
            "test_ssl", "test_sslproto", "test_unix_events"],
    "callgraph": ["test_tasks", "test_graph"],  # test_graph: 3.14+
}

#: First match wins; patterns are fnmatch patterns over ``module.Class.test``.
#: Rules for some Python versions only, checked first: (pattern, set, oldest version).
VERSION_SET_RULES = [
    # 3.14's awaited-by bookkeeping (the call graph's edges), wherever it is tested:
    # these two shield tests gained an assertion on inner._asyncio_awaited_by.
    ("test_tasks.*.test_shield_cancel_outer", "callgraph", (3, 14)),
    ("test_tasks.*.test_shield_cancel_outer_in_task", "callgraph", (3, 14)),
]

SET_RULES = [
    ("test_tasks.*awaited_by*", "callgraph"),
    ("test_graph.*", "callgraph"),
    # test_tasks: the combinator tests belong to issue 3.
    ("test_tasks.*.test_wait*", "issue3"),
    ("test_tasks.*.test_as_completed*", "issue3"),
    ("test_tasks.*.test_shield*", "issue3"),
    ("test_tasks.*.test_gather*", "issue3"),
    ("test_tasks.*.test_cancel_gather*", "issue3"),
    ("test_tasks.*.test_task_repr_wait_for", "issue3"),
    ("test_tasks.*.test_yield_wait_does_not_shield_cancel", "issue3"),
    ("test_tasks.FutureGatherTests*", "issue3"),
    ("test_tasks.CoroutineGatherTests*", "issue3"),
    # test_pep492: async-with on locks is issue 3, StreamReader is networking.
    ("test_pep492.LockTests*", "issue3"),
    ("test_pep492.StreamReaderTests*", "net"),
    ("test_futures.*", "issue2"),
    ("test_futures2.*", "issue2"),
    ("test_tasks.*", "issue2"),
    ("test_runners.*", "issue2"),
    ("test_context.*", "issue2"),
    ("test_pep492.*", "issue2"),
    ("test_threads.*", "issue2"),
    ("test_locks.*", "issue3"),
    ("test_queues.*", "issue3"),
    ("test_timeouts.*", "issue3"),
    ("test_taskgroups.*", "issue3"),
    ("test_waitfor.*", "issue3"),
    ("test_eager_task_factory.*", "eager"),
    # issue 4: networking, streams, pipes, subprocesses, signals.
    ("test_events.*", "net"),
    ("test_sock_lowlevel.*", "net"),
    ("test_sendfile.*", "net"),
    ("test_streams.*", "net"),
    ("test_server.*", "net"),
    ("test_buffered_proto.*", "net"),
    ("test_subprocess.*", "net"),
    ("test_ssl.*", "net"),
    ("test_sslproto.*", "net"),
    ("test_unix_events.*", "net"),
]


def set_of(test_id: str) -> str:
    for pattern, name, since in VERSION_SET_RULES:
        if sys.version_info >= since and fnmatch.fnmatchcase(test_id, pattern):
            return name
    for pattern, name in SET_RULES:
        if fnmatch.fnmatchcase(test_id, pattern):
            return name
    return "other"


# -- classes not run: the stdlib's own parameterizations -----------------------------

DROP = {
    "test_tasks": {
        # BaseTaskTests bound to CPython's C/Python Task and Future.
        "CTask_CFuture_Tests", "CTask_CFuture_SubclassTests",
        "CTaskSubclass_PyFuture_Tests", "PyTask_CFutureSubclass_Tests",
        "CTask_PyFuture_Tests", "PyTask_CFuture_Tests", "PyTask_PyFuture_Tests",
        "PyTask_PyFuture_SubclassTests",
        # asyncio.tasks._py_register_task/_c_enter_task/...: the stdlib's private
        # bookkeeping functions, which coroloop calls (through _bridge) but does not
        # implement.
        "PyIntrospectionTests", "CIntrospectionTests",
        # BaseCurrentLoopTests bound to tasks._py_current_task / _c_current_task.
        "PyCurrentLoopTests", "CCurrentLoopTests",
    },
    "test_futures": {
        "CFutureTests", "CSubFutureTests", "PyFutureTests",
        "CFutureDoneCallbackTests", "CSubFutureDoneCallbackTests",
        "PyFutureDoneCallbackTests",
        "PyFutureInheritanceTests", "CFutureInheritanceTests",
    },
    "test_futures2": {"CFutureTests", "PyFutureTests"},
    # The networking modules bind their mixins to one stdlib loop class per selector
    # (and to the proactor on Windows): each is replaced by one *_TargetLoop class.
    "test_events": {"SelectEventLoopTests", "EPollEventLoopTests", "PollEventLoopTests",
                    "KqueueEventLoopTests", "ProactorEventLoopTests",
                    # GetEventLoopTestsMixin bound to the stdlib's Python and C
                    # get_event_loop/_get_running_loop implementations (it installs
                    # them into asyncio.events for the duration of each test).
                    "TestPyGetEventLoop", "TestCGetEventLoop"},
    "test_sock_lowlevel": {"SelectEventLoopTests", "EPollEventLoopTests",
                           "PollEventLoopTests", "KqueueEventLoopTests",
                           "ProactorEventLoopTests"},
    "test_sendfile": {"SelectEventLoopTests", "EPollEventLoopTests", "PollEventLoopTests",
                      "KqueueEventLoopTests", "ProactorEventLoopTests"},
    "test_server": {"SelectorStartServerTests", "ProactorStartServerTests"},
    "test_buffered_proto": {"BufferedProtocolSelectorTests",
                            "BufferedProtocolProactorTests"},
    "test_sslproto": {"SelectorStartTLSTests", "ProactorStartTLSTests"},
    # SubprocessMixin bound to each of the stdlib's child watchers (asyncio's Unix
    # child-watcher machinery, deprecated in 3.12 and removed in 3.14; coroloop's loop
    # reaps its own children) or to the proactor: one SubprocessTests_TargetLoop instead.
    "test_subprocess": {"SubprocessThreadedWatcherTests", "SubprocessSafeWatcherTests",
                        "SubprocessFastWatcherTests", "SubprocessPidfdWatcherTests",
                        "SubprocessMultiLoopWatcherTests", "SubprocessProactorTests"},
    # Tests of asyncio.SelectorEventLoop (a stdlib class): the Unix-socket tests get a
    # *_TargetLoop twin; the signal tests drive the stdlib loop's private methods
    # (_check_signal, _handle_signal, _signal_handlers), see exclusions.py for the rest.
    "test_unix_events": {"SelectorEventLoopUnixSocketTests"},
    # 3.14's call-graph tests bound to the C and the Python Future/Task (they swap
    # asyncio's module attributes for the duration of each test).
    "test_graph": {"TestCallStackC", "TestCallStackPy"},
    "test_eager_task_factory": {
        "PyEagerTaskFactoryLoopTests", "CEagerTaskFactoryLoopTests",
        "NonEagerTests", "EagerTests", "NonEagerPyTaskTests", "EagerPyTaskTests",
        "NonEagerCTaskTests", "EagerCTaskTests",
    },
}


# -- loop mixins ---------------------------------------------------------------------

def target_loop_mixin(target):
    """``new_test_loop()`` returns the target's loop (see the module docstring)."""

    class TargetLoop:
        def new_test_loop(self, gen=None):
            if gen is not None:
                raise unittest.SkipTest(
                    "drives test_utils.TestLoop's virtual-time generator; "
                    "runs in the *_TestLoop variant")
            loop = target.loop_factory()
            self.set_event_loop(loop)
            return loop

    return TargetLoop


#: test_utils.TestCase.new_test_loop as CPython defines it (set by run.py, which makes
#: the target's loop the default for every test_utils.TestCase).
ORIGINAL_NEW_TEST_LOOP = None


class StdlibTestLoop:
    """``new_test_loop()`` returns CPython's TestLoop, a stdlib BaseEventLoop."""

    def new_test_loop(self, gen=None):
        return ORIGINAL_NEW_TEST_LOOP(self, gen)


# -- bindings ------------------------------------------------------------------------
# Each bind_<module>(mod, test_utils, target) yields (class name, bases, attributes).

def _subclass(cls, name):
    return type(name, (cls,), {"__module__": __name__})


def bind_test_tasks(mod, tu, t):
    TL = target_loop_mixin(t)
    # 3.14's BaseTaskTests call self.current_task() / self.all_tasks() (CPython binds
    # its C or Python functions there); earlier versions ignore the extra attributes.
    attrs = dict(Task=t.Task, Future=t.Future, current_task=staticmethod(t.current_task),
                 all_tasks=staticmethod(t.api.all_tasks))
    for suffix, loopmix in (("TargetLoop", TL), ("TestLoop", StdlibTestLoop)):
        yield (f"TaskTests_{suffix}",
               (loopmix, mod.BaseTaskTests, mod.SetMethodsTest, tu.TestCase), attrs)
        # Subclasses of Task and Future, as CPython's *_SubclassTests: one extra test
        # (add_subclass_tests) counting add_done_callback calls.
        yield (f"TaskSubclassTests_{suffix}", (loopmix, mod.BaseTaskTests, tu.TestCase),
               dict(attrs, _post=mod.add_subclass_tests))

    def new_task(self, coro):
        return t.Task(coro, loop=self.loop)

    yield ("CurrentLoopTests", (mod.BaseCurrentLoopTests, tu.TestCase),
           dict(current_task=staticmethod(t.current_task), new_task=new_task))


def bind_test_futures(mod, tu, t):
    TL = target_loop_mixin(t)
    sub = _subclass(t.Future, "FutureSubclass")
    for suffix, loopmix in (("TargetLoop", TL), ("TestLoop", StdlibTestLoop)):
        yield (f"FutureTests_{suffix}", (loopmix, mod.BaseFutureTests, tu.TestCase),
               dict(cls=t.Future))
        yield (f"SubFutureTests_{suffix}", (loopmix, mod.BaseFutureTests, tu.TestCase),
               dict(cls=sub))
        yield (f"FutureDoneCallbackTests_{suffix}",
               (loopmix, mod.BaseFutureDoneCallbackTests, tu.TestCase),
               dict(_new_future=lambda self: t.Future(loop=self.loop)))
        yield (f"SubFutureDoneCallbackTests_{suffix}",
               (loopmix, mod.BaseFutureDoneCallbackTests, tu.TestCase),
               dict(_new_future=lambda self: sub(loop=self.loop)))
        yield (f"FutureInheritanceTests_{suffix}",
               (loopmix, mod.BaseFutureInheritanceTests, tu.TestCase),
               dict(_get_future_cls=lambda self: t.Future))


def bind_test_futures2(mod, tu, t):
    # FutureTests.cls is a Task class there (futures built from coroutines).
    yield ("FutureTests", (mod.FutureTests, unittest.IsolatedAsyncioTestCase),
           dict(cls=t.Task))


def _tracked_loop_factory(t):
    """The target's loop, recording whether shutdown_asyncgens() ran (as test_runners'
    mock loop does), without touching any private attribute."""

    class TrackedLoop(t.loop_class):
        shutdown_ag_run = False

        async def shutdown_asyncgens(self):
            self.shutdown_ag_run = True
            await super().shutdown_asyncgens()

    return TrackedLoop


def bind_test_runners(mod, tu, t):
    Tracked = _tracked_loop_factory(t)
    for name in ("RunTests", "RunnerTests"):
        base = getattr(mod, name, None)
        if base is not None:
            yield (f"{name}_TargetLoop", (base,), dict(new_loop=lambda self: Tracked()))


def bind_test_pep492(mod, tu, t):
    def setUp(self):
        tu.TestCase.setUp(self)
        self.loop = t.loop_factory()
        self.set_event_loop(self.loop)

    for name in ("LockTests", "StreamReaderTests", "CoroutineTests"):
        base = getattr(mod, name, None)
        if base is not None:
            yield (f"{name}_TargetLoop", (base,), dict(setUp=setUp))


def bind_test_eager_task_factory(mod, tu, t):
    yield ("EagerTaskFactoryLoopTests", (mod.EagerTaskFactoryLoopTests, tu.TestCase),
           dict(Task=t.Task))
    yield ("NonEagerTests", (mod.BaseNonEagerTaskFactoryTests, tu.TestCase),
           dict(Task=t.Task))
    yield ("EagerTests", (mod.BaseEagerTaskFactoryTests, tu.TestCase),
           dict(Task=t.Task))


def _loop_twin(base, t, how):
    """*base* with the target's loop, created where the base creates its own."""
    if how == "create_event_loop":
        return dict(create_event_loop=lambda self: t.loop_factory())
    if how == "new_loop":
        return dict(new_loop=lambda self: t.loop_factory())
    if how == "setUp":
        # base.setUp builds a stdlib loop and makes it current: replace it at once.
        def setUp(self):
            base.setUp(self)
            stdlib_loop = self.loop
            self.loop = t.loop_factory()
            self.set_event_loop(self.loop)
            stdlib_loop.close()
        return dict(setUp=setUp)
    raise ValueError(how)


def bind_test_events(mod, tu, t):
    # CPython's UnixEventLoopTestsMixin adds a SafeChildWatcher to the stdlib loop;
    # coroloop's loop reaps its own children, so the mixins are bound directly.
    yield ("EventLoopTests_TargetLoop",
           (mod.EventLoopTestsMixin, mod.SubprocessTestsMixin, tu.TestCase),
           _loop_twin(None, t, "create_event_loop"))


def bind_test_sock_lowlevel(mod, tu, t):
    yield ("SockTests_TargetLoop", (mod.BaseSockTestsMixin, tu.TestCase),
           _loop_twin(None, t, "create_event_loop"))


def bind_test_sendfile(mod, tu, t):
    yield ("SendfileTests_TargetLoop", (mod.SendfileTestsBase, tu.TestCase),
           _loop_twin(None, t, "create_event_loop"))


def bind_test_server(mod, tu, t):
    yield ("StartServerTests_TargetLoop", (mod.SelectorStartServerTests,),
           _loop_twin(None, t, "new_loop"))


def bind_test_buffered_proto(mod, tu, t):
    yield ("BufferedProtocolTests_TargetLoop", (mod.BufferedProtocolSelectorTests,),
           _loop_twin(None, t, "new_loop"))


def bind_test_sslproto(mod, tu, t):
    yield ("StartTLSTests_TargetLoop", (mod.SelectorStartTLSTests,),
           _loop_twin(None, t, "new_loop"))


def bind_test_subprocess(mod, tu, t):
    def setUp(self):
        tu.TestCase.setUp(self)
        self.loop = t.loop_factory()
        self.set_event_loop(self.loop)

    yield ("SubprocessTests_TargetLoop", (mod.SubprocessMixin, tu.TestCase),
           dict(setUp=setUp))


def bind_test_unix_events(mod, tu, t):
    base = mod.SelectorEventLoopUnixSocketTests
    yield ("UnixSocketTests_TargetLoop", (base,), _loop_twin(base, t, "setUp"))


def bind_test_graph(mod, tu, t):
    # The call-graph tests on the target's Task/Future and loop (through the asyncio
    # view; IsolatedAsyncioTestCase gets the target's loop from the policy).
    yield ("CallStackTests_TargetLoop", (mod.CallStackTestBase,
                                          unittest.IsolatedAsyncioTestCase), {})


BINDERS = {
    "test_tasks": bind_test_tasks,
    "test_futures": bind_test_futures,
    "test_futures2": bind_test_futures2,
    "test_runners": bind_test_runners,
    "test_pep492": bind_test_pep492,
    "test_eager_task_factory": bind_test_eager_task_factory,
    "test_events": bind_test_events,
    "test_sock_lowlevel": bind_test_sock_lowlevel,
    "test_sendfile": bind_test_sendfile,
    "test_server": bind_test_server,
    "test_buffered_proto": bind_test_buffered_proto,
    "test_sslproto": bind_test_sslproto,
    "test_subprocess": bind_test_subprocess,
    "test_unix_events": bind_test_unix_events,
    "test_graph": bind_test_graph,
}


def test_classes(modname, mod, tu, target):
    """The TestCase classes to run for *mod*, in definition order then bound ones."""
    drop = DROP.get(modname, set())
    classes = []
    for name, obj in vars(mod).items():
        if (isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                and obj.__module__ == mod.__name__ and name not in drop):
            classes.append(obj)
    binder = BINDERS.get(modname)
    if binder is not None:
        for name, bases, attrs in binder(mod, tu, target):
            attrs = dict(attrs)
            post = attrs.pop("_post", None)
            attrs["__module__"] = mod.__name__
            attrs["__qualname__"] = name
            cls = type(name, bases, attrs)
            if post is not None:
                cls = post(cls)
            classes.append(cls)
    return classes
