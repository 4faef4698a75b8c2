"""Eager task factories (asyncio 3.12+), available on every supported version.

    loop.set_task_factory(coroloop.eager_task_factory)

makes ``create_task()`` run the new task's first step at once, inside the call:
a coroutine that finishes without suspending never goes through the scheduler.
coroloop's Task accepts ``eager_start=True`` on 3.11 too, so this works there
as well (on a 3.11 stdlib loop as much as on coroloop's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core.tasks import Task

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from collections.abc import Callable

__all__ = ["create_eager_task_factory", "eager_task_factory"]


def create_eager_task_factory(custom_task_constructor: Callable[..., Any],
                              ) -> Callable[..., Any]:
    """A task factory that builds tasks with ``custom_task_constructor(coro, loop=...,
    eager_start=True, ...)``; the constructor must accept ``eager_start``."""
    if not callable(custom_task_constructor):
        raise TypeError(f"custom_task_constructor must be callable, got "
                        f"{custom_task_constructor!r}")

    def eager_factory(loop: AbstractEventLoop, coro: Any, *, eager_start: bool = True,
                      **kwargs: Any) -> Any:
        """A task factory (``loop.set_task_factory()``) whose tasks run their first
        step inside ``create_task()``."""
        # name= / context= pass through; an explicit eager_start=False from
        # loop.create_task() wins over the factory's default.
        return custom_task_constructor(coro, loop=loop, eager_start=eager_start, **kwargs)

    eager_factory.custom_task_constructor = custom_task_constructor  # type: ignore[attr-defined]  # asyncio's attribute
    return eager_factory


eager_task_factory = create_eager_task_factory(Task)
"""``loop.set_task_factory(eager_task_factory)``: tasks (coroloop's Task) run their
first step inside ``create_task()``, on every supported Python version."""
