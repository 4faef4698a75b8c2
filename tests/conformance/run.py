#!/usr/bin/env python3
"""Run CPython's own asyncio test suite (``test.test_asyncio``) against coroloop.

    python tests/conformance/run.py                       # every set, coroloop
    python tests/conformance/run.py --set issue2          # one set
    python tests/conformance/run.py --module test_tasks -v
    python tests/conformance/run.py --target asyncio      # validate the harness itself

Uses the interpreter that runs it (3.11 to 3.15) and that interpreter's copy of
``test.test_asyncio``; nothing is copied from CPython.  How each module is bound to the
target lives in ``suite.py``, what is not run and why in ``exclusions.py``.

How a module runs against the target
------------------------------------
* Parameterized mixins (``BaseTaskTests``, ``BaseFutureTests``, ...) get concrete
  classes whose Task/Future/loop are the target's (``suite.py``).
* The module's global ``asyncio`` (and that of ``test.test_asyncio.utils``) is replaced
  by a view of the real module in which every public asyncio name the target exports
  (``sleep``, ``Task``, ``run``, ``Runner``, ``new_event_loop``, ...) is the target's;
  other names fall through to the stdlib.  ``asyncio`` itself is never modified, so
  the stdlib and coroloop's own internals are unaffected.
* During each test, the event-loop policy makes new loops with the target's loop class,
  so ``asyncio.new_event_loop()`` inside the stdlib and ``unittest.IsolatedAsyncioTestCase``
  run on the target's loop too.
* ``test_utils.TestCase.new_test_loop()`` returns the target's loop unless the test
  drives ``TestLoop``'s virtual-time generator (see ``suite.py``), and
  ``test_utils.TestCase.close_loop`` no longer requires ``loop._default_executor`` (a
  stdlib private attribute) on loops that are not stdlib ``BaseEventLoop``s.
* Tests that check logging patch ``asyncio.base_events.logger``; while such a patch is
  active, records sent to the shared ``asyncio`` logger are forwarded to the mock, so
  the target's loop is checked too (``install_logger_shim``).

Each module runs in its own worker process (isolation, parallelism).  Each test has a
timeout (SIGALRM raising a SystemExit subclass, which event loops propagate rather
than log); a hard hang trips a faulthandler backstop that kills the worker, and the
parent records that test as an error and restarts the worker after it.

Output: per module and per set, passed/failed/errors/excluded/skipped and
pass% = passed / (passed + failed + errors); the final line is
``conformance: N passed, M failed``.  The exit status is 1 when an enforced set
(``suite.SETS``) is below its target pass rate, or a worker could not run.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SRC = os.path.join(REPO, "src")
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import exclusions  # noqa: E402
import suite  # noqa: E402

PACKAGE = "test.test_asyncio"


def stdlib_policy_api():
    """(DefaultEventLoopPolicy, set_event_loop_policy) without the DeprecationWarning
    3.14+ gives for the public names (the harness is not the code under test)."""
    import asyncio
    from asyncio import events
    if hasattr(events, "_set_event_loop_policy"):  # 3.14+
        if sys.platform == "win32":
            from asyncio.windows_events import _DefaultEventLoopPolicy as default
        else:
            from asyncio.unix_events import _DefaultEventLoopPolicy as default
        return default, events._set_event_loop_policy
    return asyncio.DefaultEventLoopPolicy, asyncio.set_event_loop_policy


# ====================================================================================
# Worker: runs one module in this process and writes JSON lines to --results.
# ====================================================================================

class Target:
    """The implementation under test: its public API and what the bindings need."""

    def __init__(self, name):
        self.name = name
        import asyncio
        if name == "asyncio":
            self.api = asyncio
            # What DefaultEventLoopPolicy creates (SelectorEventLoop on Unix).
            self.loop_class = stdlib_policy_api()[0]._loop_factory
        elif name == "coroloop":
            try:
                import coroloop
            except ImportError:
                sys.path.insert(0, SRC)
                import coroloop
            self.api = coroloop
            self.loop_class = coroloop.EventLoop
        else:
            raise SystemExit(f"unknown target {name!r}")
        self.Task = self.api.Task
        self.Future = self.api.Future
        self.current_task = self.api.current_task
        # Public names the target serves through a deprecation __getattr__ (3.14+:
        # the policy classes); the asyncio view reads them from the target on use,
        # so a test sees the target's object and the target's warning.
        self.deprecated_names = frozenset(
            getattr(getattr(self.api, "_bridge", None), "DEPRECATED_POLICY_NAMES", ()))
        # Not api.new_event_loop: that may consult the policy, which calls us.
        self.loop_factory = self.loop_class

    def overrides(self):
        """Public asyncio names -> the target's object, for the names it exports."""
        import asyncio
        import types
        if self.api is asyncio:
            return {}
        names = getattr(self.api, "__all__", None)
        if names is None:
            names = [n for n in dir(self.api) if not n.startswith("_")]
        out = {}
        for name in names:
            if not hasattr(asyncio, name) or not hasattr(self.api, name):
                continue
            value = getattr(self.api, name)
            if isinstance(value, types.ModuleType):
                continue
            out[name] = value
        return out


def make_asyncio_view(target):
    """A module that reads like ``asyncio`` but has the target's public names."""
    import asyncio
    import types

    class AsyncioView(types.ModuleType):
        def __getattr__(self, name):
            if name in target.deprecated_names:
                return getattr(target.api, name)
            return getattr(asyncio, name)

        def __dir__(self):
            return sorted(set(dir(asyncio)) | set(self.__dict__))

    view = AsyncioView("asyncio", f"asyncio with {target.name}'s public names")
    view.__dict__.update(target.overrides())
    view.__file__ = getattr(asyncio, "__file__", None)
    view.__path__ = asyncio.__path__
    return view


def rebind_asyncio_submodules(mod, target):
    """Point ``from asyncio import taskgroups``-style globals of a test module at views
    of those submodules in which the target's public names replace asyncio's (so
    test_taskgroups' ``taskgroups.TaskGroup`` is the target's TaskGroup)."""
    import types

    overrides = target.overrides()
    for name, value in list(vars(mod).items()):
        if not (isinstance(value, types.ModuleType)
                and value.__name__.startswith("asyncio.")):
            continue
        replaced = {attr: overrides[attr] for attr in dir(value)
                    if not attr.startswith("_") and attr in overrides}
        if not replaced:
            continue

        class SubmoduleView(types.ModuleType):
            def __getattr__(self, attr, _real=value):
                return getattr(_real, attr)

        view = SubmoduleView(value.__name__, f"{value.__name__} with {target.name}'s names")
        view.__dict__.update(replaced)
        setattr(mod, name, view)


class TestTimeout(SystemExit):
    """Raised by SIGALRM in the main thread.  A SystemExit subclass because event
    loops and tasks propagate SystemExit from callbacks instead of logging it, while
    unittest records it as an error of the running test."""


class Recorder(unittest.TestResult):
    """A unittest result that streams one JSON record per test to a file."""

    ORDER = {"pass": 0, "skip": 1, "fail": 2, "error": 3}

    def __init__(self, out, timeout, target, short_id):
        super().__init__()
        self.out = out
        self.timeout = timeout
        self.target = target
        self.short_id = short_id
        self._current = None

    def _write(self, **rec):
        self.out.write(json.dumps(rec) + "\n")
        self.out.flush()

    # -- per-test lifecycle -----------------------------------------------------------
    def startTest(self, test):
        import asyncio
        import faulthandler
        import signal
        super().startTest(test)
        tid = self.short_id(test)
        self._current = {"id": tid, "status": "pass", "detail": None, "summary": None,
                         "t0": time.monotonic()}
        self._write(event="start", id=tid)
        target = self.target

        default_policy, set_policy = stdlib_policy_api()

        class TargetPolicy(default_policy):
            def new_event_loop(self):
                return target.loop_factory()

        set_policy(TargetPolicy())
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        faulthandler.dump_traceback_later(self.timeout * 2 + 15, exit=True)

    def stopTest(self, test):
        import asyncio
        import faulthandler
        import signal
        signal.setitimer(signal.ITIMER_REAL, 0)
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)
        try:
            stdlib_policy_api()[1](None)
        except Exception:
            pass
        cur, self._current = self._current, None
        if cur is not None:
            self._write(event="end", id=cur["id"], status=cur["status"],
                        summary=cur["summary"], detail=cur["detail"],
                        seconds=round(time.monotonic() - cur["t0"], 3))

    # -- outcomes -----------------------------------------------------------------------
    def _describe(self, test, err):
        etype, value, tb = err
        if isinstance(value, TestTimeout):
            summary = f"TIMEOUT: {value}"
        else:
            summary = traceback.format_exception_only(etype, value)[-1].strip()
            summary = summary.splitlines()[0] if summary else etype.__name__
            if len(summary) > 240:
                summary = summary[:237] + "..."
        return summary, self._exc_info_to_string(err, test)[-4000:]

    def _record(self, test, status, err=None, reason=None):
        cur = self._current
        if err is not None:
            summary, detail = self._describe(test, err)
        else:
            summary, detail = reason, None
        if cur is None:
            # A class or module fixture failed (unittest's _ErrorHolder).
            self._write(event="end", id=self.short_id(test), status=status,
                        summary=summary, detail=detail, seconds=0)
            return
        # Keep the worst outcome; for equal ones, the first.
        if self.ORDER[status] > self.ORDER[cur["status"]]:
            cur.update(status=status, summary=summary, detail=detail)

    def addSuccess(self, test):
        pass

    def addError(self, test, err):
        self._record(test, "error", err)

    def addFailure(self, test, err):
        self._record(test, "fail", err)

    def addSkip(self, test, reason):
        self._record(test, "skip", reason=reason)

    def addExpectedFailure(self, test, err):
        pass

    def addUnexpectedSuccess(self, test):
        if self._current is not None:
            self._current.update(status="fail", summary="unexpected success "
                                 "(the test is marked expectedFailure)")

    def addSubTest(self, test, subtest, err):
        if err is not None:
            failure = issubclass(err[0], test.failureException)
            self._record(test, "fail" if failure else "error", err)

    def addDuration(self, test, elapsed):  # 3.12+
        pass


def install_test_utils_shims(tu, target):
    """Point test_utils.TestCase's loop helpers at the target (see the docstring)."""
    from asyncio import base_events

    original_close_loop = tu.TestCase.__dict__["close_loop"].__func__
    original_new_test_loop = tu.TestCase.new_test_loop

    def close_loop(loop):
        # The original reads loop._default_executor, a stdlib private attribute.
        if isinstance(loop, base_events.BaseEventLoop) or \
                getattr(loop, "_default_executor", None) is not None:
            return original_close_loop(loop)
        loop.close()

    def new_test_loop(self, gen=None):
        # The target's loop, unless the test drives TestLoop's virtual-time generator.
        if gen is not None:
            return original_new_test_loop(self, gen)
        loop = target.loop_factory()
        self.set_event_loop(loop)
        return loop

    tu.TestCase.close_loop = staticmethod(close_loop)
    tu.TestCase.new_test_loop = new_test_loop
    # For suite.StdlibTestLoop (the *_TestLoop variants).
    suite.ORIGINAL_NEW_TEST_LOOP = original_new_test_loop


def install_logger_shim():
    """Forward records of the shared "asyncio" logger to a mocked
    ``asyncio.base_events.logger``.

    Many tests check what the loop logs with ``mock.patch('asyncio.base_events.logger')``,
    which replaces the stdlib loop module's global.  A loop that logs through the same
    ``asyncio`` logger object, but from its own module, is invisible to that mock; while
    the patch is active this handler hands such records to the mock, so the test checks
    the target's logging.  (Stdlib loops call the mock directly and never reach here.)
    """
    import logging
    from asyncio import base_events
    from asyncio import log as alog
    from unittest import mock

    class ForwardToMock(logging.Handler):
        def emit(self, record):
            patched = base_events.logger
            if patched is alog.logger or not isinstance(patched, mock.Mock):
                return
            method = getattr(patched, record.levelname.lower(), None)
            if method is not None:
                method(record.getMessage(), exc_info=record.exc_info or False)

    alog.logger.addHandler(ForwardToMock())


def worker_main(args):
    import faulthandler
    import importlib
    import signal
    import unittest

    out = open(args.results, "a", encoding="utf-8")
    done = set()
    if args.skip_file and os.path.exists(args.skip_file):
        with open(args.skip_file, encoding="utf-8") as f:
            done = set(json.load(f))
    faulthandler.enable()
    target = Target(args.target)

    def on_alarm(signum, frame):
        # Re-arm so that a cleanup that hangs as well is interrupted too.
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        raise TestTimeout(f"test did not finish within {args.timeout:g}s")

    signal.signal(signal.SIGALRM, on_alarm)

    modname = args.worker
    try:
        mod = importlib.import_module(f"{PACKAGE}.{modname}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{PACKAGE}.{modname}":
            out.write(json.dumps({"event": "unavailable", "id": modname,
                                  "summary": str(exc)}) + "\n")
            out.write(json.dumps({"event": "finished"}) + "\n")
            return 0
        raise
    from test.test_asyncio import utils as tu

    view = make_asyncio_view(target)
    mod.asyncio = view
    tu.asyncio = view
    rebind_asyncio_submodules(mod, target)

    install_test_utils_shims(tu, target)
    install_logger_shim()

    prefix = PACKAGE + "."

    def short_id(test):
        tid = test.id() if hasattr(test, "id") else str(test)
        return tid[len(prefix):] if tid.startswith(prefix) else tid

    result = Recorder(out, args.timeout, target, short_id)
    loader = unittest.TestLoader()
    for cls in suite.test_classes(modname, mod, tu, target):
        keep = []
        for test in loader.loadTestsFromTestCase(cls):
            tid = short_id(test)
            if tid in done:
                continue
            if args.only and not any(p in tid for p in args.only):
                continue
            reason = exclusions.exclusion_for(tid)
            if reason is not None:
                out.write(json.dumps({"event": "end", "id": tid, "status": "excluded",
                                      "summary": reason}) + "\n")
                continue
            keep.append(test)
        for test in keep:
            # Each test runs in a top-level suite of its own, which ends by calling
            # the class's tearDownClass (and the module's tearDownModule); forget the
            # previous class so that the next suite calls setUpClass again.  Without
            # this, every test after a class's first one would run with the class
            # fixture already torn down (test_sendfile's data file deleted, ...).
            result._previousTestClass = None
            try:
                unittest.TestSuite([test]).run(result)
            except KeyboardInterrupt:
                # unittest lets KeyboardInterrupt escape a test; record it as that
                # test's error instead of losing the rest of the module.
                signal.setitimer(signal.ITIMER_REAL, 0)
                if result._current is not None:
                    result._record(test, "error", sys.exc_info())
                    result.stopTest(test)
    _report_leftover_threads(out)
    out.write(json.dumps({"event": "finished"}) + "\n")
    out.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # Do not wait for threads a test leaked (interpreter shutdown joins them, and
    # concurrent.futures' atexit hook joins executor workers).
    os._exit(0)


def _report_leftover_threads(out):
    """Threads still alive after the module: print their stacks to the log."""
    import threading
    frames = sys._current_frames()
    left = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if not left:
        return
    print(f"== {len(left)} thread(s) still alive after the module:", flush=True)
    for t in left:
        print(f"-- {t!r}", flush=True)
        frame = frames.get(t.ident)
        if frame is not None:
            traceback.print_stack(frame, file=sys.stdout)
    out.write(json.dumps({"event": "note", "summary": f"{len(left)} thread(s) left "
                          f"alive after the module: "
                          + ", ".join(t.name for t in left)}) + "\n")


# ====================================================================================
# Parent: one worker per module, aggregate, report, gate.
# ====================================================================================

def run_module(modname, args, tmpdir):
    """Run *modname* in worker processes until every test has a record."""
    results = os.path.join(tmpdir, f"{modname}.jsonl")
    skip = os.path.join(tmpdir, f"{modname}.skip.json")
    log = os.path.join(tmpdir, f"{modname}.log")
    records = {}
    order = []
    notes = []
    available = True
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (SRC, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONFAULTHANDLER", "1")
    # Each worker runs in a scratch directory of its own, as regrtest does: tests
    # create files named after test.support.os_helper.TESTFN ("@test_<pid>_tmp...")
    # relative to the working directory (test_sendfile, test_unix_events' sendfile
    # tests), and a worker killed mid-test must leave them in the scratch directory,
    # not in the repository.
    cwd = os.path.join(tmpdir, f"{modname}.cwd")
    os.makedirs(cwd, exist_ok=True)
    for attempt in range(25):
        with open(skip, "w", encoding="utf-8") as f:
            json.dump(sorted(records), f)
        open(results, "w").close()
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", modname,
               "--target", args.target, "--timeout", str(args.timeout),
               "--results", results, "--skip-file", skip]
        for o in args.only or ():
            cmd += ["--only", o]
        with open(log, "a", encoding="utf-8") as logf:
            try:
                proc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                      env=env, cwd=cwd, timeout=args.module_timeout)
            except subprocess.TimeoutExpired:
                proc = subprocess.CompletedProcess(cmd, "killed (--module-timeout)")
        started = None
        finished = False
        with open(results, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                ev = rec.get("event")
                if ev == "start":
                    started = rec["id"]
                elif ev == "end":
                    if rec["id"] not in records:
                        order.append(rec["id"])
                    records[rec["id"]] = rec
                    if rec["id"] == started:
                        started = None
                elif ev == "unavailable":
                    available = False
                    notes.append(f"{modname}: not available on this Python "
                                 f"({rec['summary']})")
                elif ev == "note":
                    where = log if args.logs else "rerun with --logs DIR to keep it"
                    notes.append(f"{modname}: {rec['summary']} (log: {where})")
                elif ev == "finished":
                    finished = True
        if finished and proc.returncode == 0:
            break
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = f.read()[-3000:]
        if started is None:
            # Died outside a test (import error, harness bug): report and stop.
            rid = f"{modname}.<module>"
            records[rid] = {"id": rid, "status": "error",
                            "summary": f"worker exited with {proc.returncode} "
                                       f"outside a test", "detail": tail}
            order.append(rid)
            break
        records[started] = {"id": started, "status": "error",
                            "summary": f"worker died (exit {proc.returncode}): hard "
                                       f"hang or crash; restarted after it",
                            "detail": tail}
        order.append(started)
    return modname, [records[i] for i in order], notes, available


def pct(p, f, e):
    n = p + f + e
    return 100.0 * p / n if n else 100.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=("coroloop", "asyncio"), default="coroloop")
    ap.add_argument("--module", action="append", metavar="NAME",
                    help="test module (e.g. test_tasks); repeatable")
    ap.add_argument("--set", action="append", choices=sorted(suite.SETS),
                    help="only tests of this set; repeatable (default: all sets)")
    ap.add_argument("--only", action="append", metavar="SUBSTR",
                    help="only test ids containing SUBSTR; repeatable")
    ap.add_argument("-v", "--verbose", action="count", default=0,
                    help="-v: list every test; -vv: tracebacks of failures")
    ap.add_argument("-q", "--quiet", action="store_true",
                    help="do not list failing tests")
    ap.add_argument("-j", "--jobs", type=int, default=max(2, os.cpu_count() or 2))
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per test")
    ap.add_argument("--module-timeout", type=float, default=900.0,
                    help="seconds before a module's worker is killed")
    ap.add_argument("--json", metavar="PATH", help="write all records as JSON")
    ap.add_argument("--logs", metavar="DIR",
                    help="keep the workers' logs and records in DIR")
    ap.add_argument("--src", metavar="DIR",
                    help="the directory coroloop is imported from (default: this checkout's "
                         "src; `make test-compiled` gives the compiled venv's site-packages)")
    # internal
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--results", help=argparse.SUPPRESS)
    ap.add_argument("--skip-file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.src:
        global SRC
        SRC = os.path.abspath(args.src)

    if args.worker:
        return worker_main(args)

    sets = args.set or list(suite.SETS)
    modules = []
    for s in sets:
        for m in suite.SET_MODULES[s]:
            if m not in modules:
                modules.append(m)
    if args.module:
        modules = [m if m.startswith("test_") else f"test_{m}" for m in args.module]

    t0 = time.monotonic()
    print(f"conformance: target={args.target} python={sys.version.split()[0]} "
          f"({sys.executable}) modules={','.join(modules)}", flush=True)
    if args.logs:
        os.makedirs(args.logs, exist_ok=True)
        tmpctx = contextlib.nullcontext(os.path.abspath(args.logs))
    else:
        tmpctx = tempfile.TemporaryDirectory(prefix="coroloop-conformance-")
    with tmpctx as tmp:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
            futs = [ex.submit(run_module, m, args, tmp) for m in modules]
            outcomes = {}
            notes = []
            missing = set()
            for fut in futs:
                modname, recs, n, available = fut.result()
                outcomes[modname] = recs
                notes.extend(n)
                if not available:
                    missing.add(modname)

    # -- aggregate --------------------------------------------------------------------
    keys = ("pass", "fail", "error", "excluded", "skip")
    per_mod = collections.OrderedDict()
    per_set = collections.OrderedDict((s, collections.Counter()) for s in sets)
    kept = []
    for modname in modules:
        c = collections.Counter()
        for rec in outcomes[modname]:
            sname = suite.set_of(rec["id"])
            if args.set and sname not in sets:
                continue
            c[rec["status"]] += 1
            per_set.setdefault(sname, collections.Counter())[rec["status"]] += 1
            kept.append(rec)
        per_mod[modname] = c

    if args.verbose:
        for rec in kept:
            print(f"  {rec['status'].upper():8} {rec['id']}"
                  + (f"  -- {rec['summary']}" if rec.get("summary") and
                     rec["status"] != "pass" else ""))

    bad = [r for r in kept if r["status"] in ("fail", "error")]
    if bad and not args.quiet:
        print("\nfailures:")
        for rec in bad:
            print(f"  {rec['status'].upper():5} {rec['id']}: {rec.get('summary')}")
            if args.verbose >= 2 and rec.get("detail"):
                print("    " + rec["detail"].rstrip().replace("\n", "\n    "))

    def line(name, c):
        p, f, e = c["pass"], c["fail"], c["error"]
        return (f"{name:28} {p:5} passed {f:4} failed {e:4} errors "
                f"{c['excluded']:4} excluded {c['skip']:4} skipped   "
                f"{pct(p, f, e):6.2f}%")

    print("\nper module:")
    for m, c in per_mod.items():
        if m in missing:
            print(f"  {m:28} (not available on this Python)")
        else:
            print("  " + line(m, c))
    print("per set:")
    status = 0
    for s, c in per_set.items():
        if not sum(c.values()):
            continue
        want, enforced = suite.SETS.get(s, (0.0, False))
        rate = pct(c["pass"], c["fail"], c["error"])
        verdict = ("ok" if rate >= want else "BELOW TARGET") if enforced else "not enforced"
        print(f"  {line(s, c)}  (target {want:g}%: {verdict})")
        if enforced and rate < want:
            status = 1
    total = collections.Counter()
    for c in per_mod.values():
        total.update(c)
    print("  " + line("TOTAL", total))
    for n in notes:
        print(f"note: {n}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"target": args.target, "python": sys.version, "records": kept},
                      f, indent=1)
    print(f"({time.monotonic() - t0:.1f}s; {args.target} on Python "
          f"{sys.version_info[0]}.{sys.version_info[1]}: {total['fail']} failures, "
          f"{total['error']} errors, {total['excluded']} excluded)")
    # The closing line, in the plain "N passed, N failed, N skipped" form CI reads.
    print(f"conformance: {total['pass']} passed, {total['fail'] + total['error']} failed, "
          f"{total['skip'] + total['excluded']} skipped")
    return status


if __name__ == "__main__":
    sys.exit(main())
