"""A chain of ``loop.call_soon`` callbacks, each scheduling the next.

Measures the bare scheduler: creating a handle, appending it to the ready queue
and running it.  No tasks, no futures except the one that ends the run.
"""

ORDER = 10
DESCRIPTION = "chain of loop.call_soon callbacks, each schedules the next"
SIZE = 250_000
QUICK_SIZE = 25_000
REQUIRES = ()


def run(aio, loop, size):
    done = loop.create_future()
    seen = 0

    def step(remaining):
        nonlocal seen
        seen += 1
        if remaining:
            loop.call_soon(step, remaining - 1)
        else:
            done.set_result(seen)

    loop.call_soon(step, size - 1)
    result = loop.run_until_complete(done)
    if result != size:
        raise RuntimeError(f"call_soon chain ran {result} callbacks, expected {size}")
    return size
