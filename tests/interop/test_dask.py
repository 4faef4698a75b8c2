"""dask.distributed with coroloop's loop in the client: scaling CPU-bound work out.

A ``LocalCluster`` of two worker processes (each a fresh interpreter running its own
loop) and a ``Client(asynchronous=True)`` living on coroloop's loop.  The work sent to
the workers is the standard library's (``math.factorial``, ``operator.mul``, ``pow``)
or a lambda (pickled by value), so nothing has to import the test module there.

One cluster, on coroloop's loop only (starting one takes about a second): everything
the guide (docs/guide/scaling.md) shows happens inside that one body."""

from __future__ import annotations

import asyncio
import math
import operator
import os

import pytest
from distributed import Client, LocalCluster

pytestmark = pytest.mark.timeout(90)


def test_client_on_coroloops_loop_with_worker_processes(coroloop_run):
    async def body():
        async with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                asynchronous=True, host="127.0.0.1",
                                dashboard_address=":0") as cluster:
            async with Client(cluster, asynchronous=True) as client:
                loop = asyncio.get_running_loop()
                assert type(loop).__module__.startswith("coroloop")
                # await a single future
                assert await client.submit(math.factorial, 20) == 2432902008176640000
                # map + gather, results in argument order
                futures = client.map(operator.mul, range(50), range(50))
                assert await client.gather(futures) == [i * i for i in range(50)]
                # many small tasks, done concurrently with other work on our loop
                ticks = 0

                async def ticker():
                    nonlocal ticks
                    while True:
                        ticks += 1
                        await asyncio.sleep(0.001)

                tick_task = asyncio.ensure_future(ticker())
                pids = set(await client.gather(client.map(
                    lambda _: os.getpid(), range(40), pure=False)))
                tick_task.cancel()
                await asyncio.gather(tick_task, return_exceptions=True)
                assert pids and os.getpid() not in pids  # ran in the worker processes
                assert ticks > 0                         # our loop kept running meanwhile
                # the cluster as an executor for loop.run_in_executor
                executor = client.get_executor()
                results = await asyncio.gather(*(
                    loop.run_in_executor(executor, pow, 2, n) for n in range(10)))
                assert results == [2 ** n for n in range(10)]
                # a failure in a worker reaches the awaiting coroutine as itself
                with pytest.raises(ZeroDivisionError):
                    await client.submit(operator.truediv, 1, 0)
    coroloop_run(body)
