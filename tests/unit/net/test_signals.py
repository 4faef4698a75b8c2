"""loop.add_signal_handler / remove_signal_handler.

Run on coroloop's loop and on the standard library's, whose behaviour is the
specification.  Signals used: SIGUSR1/SIGUSR2 (SIGALRM belongs to pytest-timeout).
"""

from __future__ import annotations

import asyncio
import contextvars
import signal
import threading

import pytest

import coroloop


def new_coroloop_loop():
    return coroloop.new_event_loop()


@pytest.fixture(autouse=True)
def restore_signals():
    saved = {sig: signal.getsignal(sig)
             for sig in (signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    assert signal.set_wakeup_fd(-1) == -1, "a loop left the signal wakeup fd installed"


@pytest.fixture(params=["coroloop", "asyncio"])
def loop(request):
    the_loop = new_coroloop_loop() if request.param == "coroloop" else asyncio.new_event_loop()
    yield the_loop
    the_loop.close()
    asyncio.set_event_loop(None)


async def until(predicate):
    for _ in range(5000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


def raise_signal_soon(sig):
    """Deliver *sig* from another thread, while the loop is waiting in poll()."""
    timer = threading.Timer(0.01, signal.raise_signal, (sig,))
    timer.start()
    return timer


def test_handler_runs_on_the_loop_with_its_args_and_context(loop):
    var = contextvars.ContextVar("var", default="unset")
    calls = []

    def handler(*args):
        calls.append((args, asyncio.get_running_loop() is loop,
                      threading.current_thread() is threading.main_thread(), var.get()))

    async def main():
        var.set("at add time")
        loop.add_signal_handler(signal.SIGUSR1, handler, "a", 1)
        var.set("later")
        signal.raise_signal(signal.SIGUSR1)
        await until(lambda: calls)
        assert calls == [(("a", 1), True, True, "at add time")]
        assert loop.remove_signal_handler(signal.SIGUSR1)

    loop.run_until_complete(main())


def test_signal_wakes_a_loop_blocked_in_poll(loop):
    caught = []

    def handler():
        caught.append(True)
        loop.stop()

    loop.add_signal_handler(signal.SIGUSR2, handler)
    guard = loop.call_later(30, loop.stop)
    timer = raise_signal_soon(signal.SIGUSR2)
    try:
        loop.run_forever()
    finally:
        timer.join()
        guard.cancel()
    assert caught == [True]
    loop.remove_signal_handler(signal.SIGUSR2)


def test_replacing_a_handler(loop):
    calls = []

    async def main():
        loop.add_signal_handler(signal.SIGUSR1, calls.append, "first")
        loop.add_signal_handler(signal.SIGUSR1, calls.append, "second")
        signal.raise_signal(signal.SIGUSR1)
        await until(lambda: calls)
        for _ in range(5):
            await asyncio.sleep(0)
        assert calls == ["second"]

    loop.run_until_complete(main())
    assert loop.remove_signal_handler(signal.SIGUSR1)


def test_invalid_arguments(loop):
    async def coro_handler():
        pass

    def handler():
        pass

    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR1, coro_handler)
    coro = coro_handler()
    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR1, coro)
    coro.close()
    with pytest.raises(TypeError):
        loop.add_signal_handler("boom", handler)
    with pytest.raises(TypeError):
        loop.remove_signal_handler("boom")
    for bad in (0, -1, signal.NSIG + 1):
        with pytest.raises(ValueError):
            loop.add_signal_handler(bad, handler)
        with pytest.raises(ValueError):
            loop.remove_signal_handler(bad)
    for uncatchable in (signal.SIGKILL, signal.SIGSTOP):
        with pytest.raises(RuntimeError):
            loop.add_signal_handler(uncatchable, handler)
        assert not loop.remove_signal_handler(uncatchable)
    # Nothing was installed by the failures.
    assert signal.getsignal(signal.SIGUSR1) is not None
    assert not loop.remove_signal_handler(signal.SIGUSR1)


def test_remove_restores_default_dispositions(loop):
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)
    assert loop.remove_signal_handler(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert loop.remove_signal_handler(signal.SIGHUP)
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
    assert not loop.remove_signal_handler(signal.SIGINT)


def test_close_removes_handlers(loop):
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    assert signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    loop.close()
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    # The autouse fixture checks that the wakeup fd was released too.


def test_closed_loop_refuses_handlers(loop):
    loop.close()
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)


def test_only_the_main_thread_can_add_handlers(loop):
    errors = []

    def in_thread():
        try:
            loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert not loop.remove_signal_handler(signal.SIGUSR1)


def test_keyboard_interrupt_is_replaced_by_the_handler(loop):
    calls = []

    async def main():
        loop.add_signal_handler(signal.SIGINT, calls.append, "sigint")
        signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt: the loop handles it
        await until(lambda: calls)

    loop.run_until_complete(main())
    assert calls == ["sigint"]
    assert loop.remove_signal_handler(signal.SIGINT)
