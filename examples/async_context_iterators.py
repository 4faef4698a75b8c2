"""Async context managers, async iterators and async generators.

    python examples/async_context_iterators.py

* ``async with``: an object with ``async __aenter__`` / ``__aexit__``, or a generator
  decorated with ``contextlib.asynccontextmanager``; both may await while setting up
  and tearing down, and teardown runs on errors and cancellation too.
* ``async for``: an object with ``__aiter__`` and ``async __anext__`` (raising
  ``StopAsyncIteration`` at the end), or more simply an async generator (``async def``
  with ``yield``).  Async comprehensions work with both.
* An async generator that is left early is finalized with ``await agen.aclose()``
  (``contextlib.aclosing`` does it for you); the loop also closes leftovers at shutdown.
"""

import contextlib

import coroloop as asyncio


class Session:
    """An async context manager written as a class."""

    def __init__(self, name):
        self.name = name

    async def __aenter__(self):
        await asyncio.sleep(0)
        print(f"open {self.name}")
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await asyncio.sleep(0)
        print(f"close {self.name} (error: {exc_type.__name__ if exc_type else None})")
        return False                     # don't swallow the exception


@contextlib.asynccontextmanager
async def locked(name):
    """The same, as a decorated async generator."""
    print(f"acquire {name}")
    try:
        yield name
    finally:
        await asyncio.sleep(0)
        print(f"release {name}")


class Countdown:
    """An async iterator written as a class."""

    def __init__(self, start):
        self.current = start

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.current <= 0:
            raise StopAsyncIteration
        await asyncio.sleep(0)
        self.current -= 1
        return self.current + 1


async def ticker(limit):
    """An async generator: the simplest way to write an async iterator."""
    try:
        for i in range(limit):
            await asyncio.sleep(0)
            yield i
    finally:
        print(f"ticker({limit}) finalized")


async def main():
    async with Session("db") as session:
        print(f"using {session.name}")
    try:
        async with Session("cache"):
            raise KeyError("missing")
    except KeyError:
        print("the KeyError went through __aexit__")
    async with locked("resource") as name:
        print(f"holding {name}")

    print("countdown:", [n async for n in Countdown(3)])
    async for i in ticker(2):
        print(f"tick {i}")
    print("squares:", [i * i async for i in ticker(4) if i % 2 == 0])

    async with contextlib.aclosing(ticker(100)) as ticks:
        async for i in ticks:
            if i == 1:
                break                    # aclosing() finalizes the generator now
    print("left the loop early")


if __name__ == "__main__":
    asyncio.run(main())
