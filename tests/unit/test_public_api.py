"""coroloop's public names: asyncio's, plus coroloop's own, and nothing missing."""

from __future__ import annotations

import asyncio
import warnings

import pytest

import coroloop

# asyncio names coroloop deliberately does not provide: the child watchers
# (deprecated in 3.12, removed in 3.14).  coroloop's loop reaps its own children
# (pidfd, or a thread per child), so there is nothing for a watcher to do.
NOT_PROVIDED = {
    "AbstractChildWatcher", "FastChildWatcher", "MultiLoopChildWatcher",
    "PidfdChildWatcher", "SafeChildWatcher", "ThreadedChildWatcher",
    "get_child_watcher", "set_child_watcher",
}
# Not yet: 3.14's call-graph API.  asyncio's functions accept only asyncio.Future
# instances; coroloop's versions come with its own call graphs (coroloop.debug).
NOT_YET = {
    "capture_call_graph", "format_call_graph", "print_call_graph", "FrameCallGraphEntry",
    "FutureCallGraph", "future_add_to_awaited_by", "future_discard_from_awaited_by",
}
POLICY_NAMES = ("AbstractEventLoopPolicy", "DefaultEventLoopPolicy")


def test_every_asyncio_name_is_provided():
    missing = sorted(name for name in asyncio.__all__
                     if name not in NOT_PROVIDED | NOT_YET and not hasattr(coroloop, name))
    assert missing == []


def test_dunder_all_lists_the_policy_names_as_asyncio_does():
    # Listed up to 3.13; 3.14 deprecates them and drops them from __all__.
    for name in POLICY_NAMES:
        assert (name in coroloop.__all__) == (name in asyncio.__all__), name


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_policy_names_warn_exactly_when_asyncio_s_do(name):
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        getattr(asyncio, name)
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        value = getattr(coroloop, name)
    assert [w.category for w in ours] == [w.category for w in theirs]
    if theirs:  # 3.14+: asyncio's message first, then coroloop's advice
        assert str(ours[0].message).startswith(str(theirs[0].message))
        assert "loop_factory=coroloop.new_event_loop" in str(ours[0].message)
        assert ours[0].filename == __file__  # points at the line that read it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = (coroloop.EventLoopPolicy if name == "DefaultEventLoopPolicy"
                    else getattr(asyncio, name))
    assert value is expected


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'coroloop' has no attribute 'nope'"):
        coroloop.nope  # noqa: B018


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
    assert issubclass(coroloop.EventLoopPolicy, coroloop._bridge.DefaultEventLoopPolicy)
