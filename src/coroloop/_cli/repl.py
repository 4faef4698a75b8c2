"""``python -m coroloop``: an interactive console where ``await`` works at the prompt.

Who runs the loop when
----------------------
*Between inputs* the loop runs in a background thread (``run_forever``), so tasks
created at the prompt keep running while the user types; the main thread sits in
``input()``, where readline and Ctrl-C behave exactly as in Python's own REPL (Ctrl-C
discards the line being typed, Ctrl-D exits).

*While a statement runs* the background thread is stopped and joined and the loop
runs in the main thread until the statement is done.  The statement is compiled with
top-level ``await`` allowed; calling the resulting function either finishes at once
or returns a coroutine, which becomes the statement's task.  Running it in the main
thread is what makes the prompt behave like a script: ``loop.add_signal_handler``,
``signal.signal`` and ``threading.main_thread()`` checks work, and Ctrl-C lands in
the thread running the statement.

Ctrl-C during a statement (the SIGINT handler installed for its duration):

* the statement's own code is executing (a blocking call, a busy loop):
  ``KeyboardInterrupt`` is raised right there, as in the plain REPL;
* the statement is waiting (``await sleep(60)``): its task is cancelled, so it
  unwinds through its ``finally`` blocks; the console prints ``KeyboardInterrupt``;
* a second Ctrl-C before that cancellation finishes: ``KeyboardInterrupt`` is raised
  wherever the loop is.

Tasks the statement created stay on the loop either way.  Ctrl-D (or ``exit()``)
cancels the tasks still pending, closes async generators and the default executor,
closes the loop and exits with status 0 (``exit(n)``: status n).
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import code
import os
import signal
import sys
import threading
import traceback
import types

import coroloop
from coroloop import _bridge

HELP = "an await-REPL on coroloop's loop (the default command)"

__all__ = ["HELP", "configure", "main", "AwaitConsole"]


def configure(parser) -> None:
    """``repl`` takes no arguments."""


def main(args) -> int:
    """Run the console until Ctrl-D or ``exit()``; return the exit status."""
    console = AwaitConsole()
    return console.run()


class _Statement:
    """One input being executed: its task (once it has one) and how it ended."""

    __slots__ = ("task", "done", "error", "cancelled_by_interrupt", "running_sync")

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None   # set when the code returned a coroutine
        self.done = False                       # the outcome below is final
        self.error: BaseException | None = None
        self.cancelled_by_interrupt = False     # Ctrl-C cancelled the task
        self.running_sync = False               # the code object itself is executing


class AwaitConsole(code.InteractiveConsole):
    """``code.InteractiveConsole`` whose statements run on a coroloop loop (see the
    module docstring for which thread runs the loop when)."""

    def __init__(self, locals: dict | None = None) -> None:
        if locals is None:
            locals = {"__name__": "__main__", "__doc__": None, "__builtins__": builtins,
                      "asyncio": asyncio, "coroloop": coroloop}
        super().__init__(locals, filename="<stdin>")
        self.compile.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        self._runner = coroloop.Runner()
        self.loop = self._runner.get_loop()
        self._background: threading.Thread | None = None
        self._background_wanted = False   # the background thread keeps running the loop
        self._statement: _Statement | None = None
        self._exit_status: int | None = None  # set by SystemExit: leave the console

    # -- the session ------------------------------------------------------------------
    def run(self) -> int:
        """Print the banner, read and run statements until EOF, shut down the loop."""
        _enable_readline(self.locals)
        self._run_startup_file()
        self._resume_background()
        banner = (f"coroloop {coroloop.__version__} REPL, Python {sys.version} on {sys.platform}\n"
                  'Use "await" directly instead of "asyncio.run()"; '
                  "asyncio and coroloop are imported.\n"
                  'Type "help", "copyright", "credits" or "license" for more information.')
        try:
            self.interact(banner=banner, exitmsg="")
        except SystemExit as exc:  # raised by raw_input() once a statement asked to exit
            self._exit_status = _exit_status(exc)
        self._pause_background()
        self.write("exiting coroloop REPL...\n")
        try:
            self._runner.close()
        except KeyboardInterrupt:
            self.write("KeyboardInterrupt: exiting without waiting for the pending tasks\n")
            return 130
        return 0 if self._exit_status is None else self._exit_status

    def raw_input(self, prompt: str = "") -> str:
        if self._exit_status is not None:
            raise SystemExit(self._exit_status)
        return super().raw_input(prompt)

    def _run_startup_file(self) -> None:
        path = os.environ.get("PYTHONSTARTUP")
        if not path or not os.path.isfile(path):
            return
        with open(path, encoding="utf-8") as f:
            startup = compile(f.read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        self.runcode(startup)

    # -- the background thread ----------------------------------------------------------
    def _resume_background(self) -> None:
        if self._background is not None:
            return  # already running
        self._background_wanted = True
        self._background = threading.Thread(target=self._run_in_background,
                                            name="coroloop REPL loop", daemon=True)
        self._background.start()

    def _pause_background(self) -> None:
        if self._background is None:
            return
        self._background_wanted = False
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._background.join()
        self._background = None

    def _run_in_background(self) -> None:
        # Signals go to the main thread, sitting in input(): a Ctrl-C delivered to
        # this thread would interrupt nothing (Python runs handlers in the main thread
        # only, and readline's wait there would not wake up).
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        # A stop() left over from a pause can end one run early: loop while wanted.
        while self._background_wanted:
            try:
                self.loop.run_forever()
            except (SystemExit, KeyboardInterrupt) as exc:  # raised by a task's step
                self.write(f"\na background task raised {exc!r}; the loop goes on\n")

    # -- running one statement -------------------------------------------------------------
    def runcode(self, code_object) -> None:
        """Run one compiled input in the main thread, on the loop (see module docstring)."""
        statement = _Statement()
        previous = _install_sigint_handler(self._on_sigint)
        try:
            self._pause_background()
            self._statement = statement
            self.loop.call_soon(self._start, code_object, statement)
            while not statement.done:
                try:
                    self.loop.run_forever()
                except BaseException as exc:
                    # KeyboardInterrupt/SystemExit escaping a task step (the statement's
                    # own, or a second Ctrl-C anywhere): the statement is over.
                    if not statement.done:
                        statement.done = True
                        statement.error = exc
        finally:
            self._statement = None
            _restore_sigint_handler(previous, self._on_sigint)
            self._resume_background()
        self._report(statement, code_object)

    def _start(self, code_object, statement: _Statement) -> None:
        func = types.FunctionType(code_object, self.locals)
        statement.running_sync = True
        try:
            value = func()
        except BaseException as exc:
            self._finish(statement, exc)
            return
        finally:
            statement.running_sync = False
        if not asyncio.iscoroutine(value):
            self._finish(statement, None)
            return
        statement.task = self.loop.create_task(value)
        statement.task.add_done_callback(lambda task: self._task_done(statement, task))

    def _task_done(self, statement: _Statement, task) -> None:
        if task.cancelled():
            try:
                task.result()
            except BaseException as exc:
                self._finish(statement, exc)
        else:
            self._finish(statement, task.exception())

    def _finish(self, statement: _Statement, error: BaseException | None) -> None:
        if not statement.done:
            statement.done = True
            statement.error = error
        self.loop.stop()

    def _on_sigint(self, signum, frame) -> None:
        statement = self._statement
        if statement is None or statement.done or statement.running_sync:
            raise KeyboardInterrupt
        task = statement.task
        if task is None or statement.cancelled_by_interrupt:
            raise KeyboardInterrupt
        if asyncio.current_task(self.loop) is task:
            raise KeyboardInterrupt  # the statement's own code is running: stop it there
        statement.cancelled_by_interrupt = True
        # Not task.cancel() here: a signal handler runs between any two bytecodes,
        # maybe inside the loop's bookkeeping.  The thread-safe path only appends to
        # the ready queue and wakes the poller; the cancel then runs as a callback.
        self.loop.call_soon_threadsafe(task.cancel)

    def _report(self, statement: _Statement, code_object) -> None:
        error = statement.error
        if error is None:
            return
        if isinstance(error, SystemExit):
            self._exit_status = _exit_status(error)
            return
        if isinstance(error, KeyboardInterrupt) or (
                statement.cancelled_by_interrupt and isinstance(error, asyncio.CancelledError)):
            self.write("\nKeyboardInterrupt\n")
            return
        self._show_error(error, code_object)

    def _show_error(self, error: BaseException, code_object) -> None:
        """The traceback from the statement's frame on, as the plain REPL prints it."""
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code is not code_object:
            tb = tb.tb_next
        if tb is None:
            tb = error.__traceback__
        sys.last_type, sys.last_value, sys.last_traceback = type(error), error, tb
        if _bridge.SYS_HAS_LAST_EXC:
            setattr(sys, "last_exc", error)  # (3.12+: not an attribute on 3.11)
        self.write("".join(traceback.format_exception(type(error), error, tb)))


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _install_sigint_handler(handler):
    """Install *handler* for SIGINT unless the program installed its own; return what to
    restore afterwards (None: nothing was changed)."""
    current = signal.getsignal(signal.SIGINT)
    if current is not signal.default_int_handler:
        return None
    signal.signal(signal.SIGINT, handler)
    return current


def _restore_sigint_handler(previous, handler) -> None:
    # A statement may have installed its own SIGINT handler meanwhile: keep that one.
    if previous is not None and signal.getsignal(signal.SIGINT) is handler:
        signal.signal(signal.SIGINT, previous)


def _enable_readline(namespace: dict) -> None:
    """Line editing, history and tab completion on the console's namespace, as
    Python's own REPL has them, when the readline module exists."""
    try:
        import readline
        import rlcompleter
    except ImportError:
        return
    readline.set_completer(rlcompleter.Completer(namespace).complete)
    readline.parse_and_bind("tab: complete")
