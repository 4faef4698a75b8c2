"""Instrumentation hooks: how debugging and testing tools watch the scheduler.

An instrument is any object with some of these methods; the loop calls the ones it
has.  Install with ``loop.add_instrument(obj)``; remove with ``loop.remove_instrument``.

    task_spawned(task)          a task was created on this loop
    task_step_started(task)     the task's coroutine is about to run a step
    task_step_ended(task)       ...and has yielded, returned or raised
    task_exited(task)           the task is done (result, exception or cancelled)
    callback_ran(handle, seconds)  a callback of the ready queue finished
    io_wait_started(timeout)    the loop is about to block in the poller
    io_wait_ended(n_events)     ...and woke up

With no instrument installed the loop's ``_instruments`` is None and each hook site
costs a single branch.  An instrument that raises is removed and the error is
reported through the loop's exception handler, so a broken tool cannot break the
program it watches.
"""

from __future__ import annotations

HOOKS = ("task_spawned", "task_step_started", "task_step_ended", "task_exited",
         "callback_ran", "io_wait_started", "io_wait_ended")


class Instrument:
    """Optional base class documenting the hooks; every hook does nothing."""

    def task_spawned(self, task) -> None: ...
    def task_step_started(self, task) -> None: ...
    def task_step_ended(self, task) -> None: ...
    def task_exited(self, task) -> None: ...
    def callback_ran(self, handle, seconds: float) -> None: ...
    def io_wait_started(self, timeout) -> None: ...
    def io_wait_ended(self, n_events: int) -> None: ...


class Instruments:
    """The set installed on one loop; fans each hook out to the instruments."""

    def __init__(self, loop) -> None:
        self._loop = loop
        self.members: list = []

    def add(self, instrument) -> None:
        if not any(callable(getattr(instrument, hook, None)) for hook in HOOKS):
            raise TypeError(f"{instrument!r} has none of the instrument hooks {HOOKS}")
        if instrument not in self.members:
            self.members.append(instrument)

    def remove(self, instrument) -> None:
        self.members.remove(instrument)

    def _call(self, hook: str, *args) -> None:
        for instrument in tuple(self.members):
            method = getattr(instrument, hook, None)
            if method is None:
                continue
            try:
                method(*args)
            except Exception as exc:
                if instrument in self.members:
                    self.members.remove(instrument)
                self._loop.call_exception_handler({
                    "message": f"Instrument {instrument!r} raised in {hook}() and was removed",
                    "exception": exc,
                })

    def task_spawned(self, task): self._call("task_spawned", task)
    def task_step_started(self, task): self._call("task_step_started", task)
    def task_step_ended(self, task): self._call("task_step_ended", task)
    def task_exited(self, task): self._call("task_exited", task)
    def callback_ran(self, handle, seconds): self._call("callback_ran", handle, seconds)
    def io_wait_started(self, timeout): self._call("io_wait_started", timeout)
    def io_wait_ended(self, n_events): self._call("io_wait_ended", n_events)
