"""coroloop's public names: asyncio's, plus coroloop's own, and nothing missing."""

from __future__ import annotations

import asyncio

import coroloop

# asyncio names coroloop deliberately does not provide: the child watchers
# (deprecated in 3.12, removed in 3.14).  coroloop's loop reaps its own children
# (pidfd, or a thread per child), so there is nothing for a watcher to do.
NOT_PROVIDED = {
    "AbstractChildWatcher", "FastChildWatcher", "MultiLoopChildWatcher",
    "PidfdChildWatcher", "SafeChildWatcher", "ThreadedChildWatcher",
    "get_child_watcher", "set_child_watcher",
}


def test_every_asyncio_name_is_provided():
    missing = sorted(name for name in asyncio.__all__
                     if name not in NOT_PROVIDED and not hasattr(coroloop, name))
    assert missing == []


def test_dunder_all_names_exist_and_are_unique():
    assert len(coroloop.__all__) == len(set(coroloop.__all__))
    assert [name for name in coroloop.__all__ if not hasattr(coroloop, name)] == []


def test_exceptions_are_shared_with_asyncio():
    for name in ("CancelledError", "TimeoutError", "InvalidStateError",
                 "IncompleteReadError", "LimitOverrunError", "BrokenBarrierError",
                 "QueueEmpty", "QueueFull", "SendfileNotAvailableError"):
        assert getattr(coroloop, name) is getattr(asyncio, name), name


def test_loop_class_names_are_coroloops():
    assert coroloop.SelectorEventLoop is coroloop.EventLoop
    assert issubclass(coroloop.EventLoop, coroloop.BaseEventLoop)
    assert isinstance(coroloop.DefaultEventLoopPolicy().new_event_loop.__self__,
                      coroloop.EventLoopPolicy)
