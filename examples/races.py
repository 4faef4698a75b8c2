"""Two classic races, found and replayed by coroloop's schedule exploration.

``bank_race``: a check-then-act race.  Each withdrawal checks the shared balance,
awaits (an audit call), then writes -- two withdrawals that check before either
writes overdraw the account.  ``lost_wakeup``: a consumer checks for work, awaits
(a metrics call), then registers to be woken; a producer that delivers in between
wakes nobody, and the consumer waits forever.

In asyncio's own order both programs pass: the steps of the tasks do not overlap.
Only a schedule that lets one task overtake another in the same iteration, for
several iterations in a row, trips them.

    python examples/races.py          # explore both with PCT, print the seeds, replay
"""

import asyncio


class Account:
    def __init__(self, balance):
        self.balance = balance

    async def withdraw(self, amount):
        if self.balance >= amount:          # check ...
            await asyncio.sleep(0)          # ... an await (an audit log call) ...
            self.balance -= amount          # ... act on what was checked
            return True
        return False


async def _audit_then_withdraw(account, amount, prelude):
    for _ in range(prelude):                # other work first: its own pace
        await asyncio.sleep(0)
    return await account.withdraw(amount)


async def bank_race():
    """Fails (AssertionError) when the account is overdrawn."""
    account = Account(100)
    # The second customer has one more step of work before withdrawing: in FIFO
    # order its check comes after the first one's write.
    await asyncio.gather(_audit_then_withdraw(account, 80, 2),
                         _audit_then_withdraw(account, 80, 3),
                         *(_busy(i) for i in range(3)))
    assert account.balance >= 0, f"overdrawn: balance {account.balance}"


async def _busy(n):
    for _ in range(4 + n):
        await asyncio.sleep(0)


class Mailbox:
    """A one-slot mailbox whose get() registers for the wake-up too late."""

    def __init__(self):
        self.items = []
        self.waiter = None

    async def get(self):
        if not self.items:                  # check ...
            await asyncio.sleep(0)          # ... an await (a metrics call) ...
            self.waiter = asyncio.get_running_loop().create_future()
            try:                            # ... then sleep until woken; the timeout
                await asyncio.wait_for(self.waiter, 0.9)  # hides a lost wake-up, mostly
            except asyncio.TimeoutError:
                pass
            self.waiter = None
        return self.items.pop(0)

    def put(self, item):
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


JOBS = 4


async def lost_wakeup():
    """Fails (AssertionError: the latency target is missed) when every wake-up is
    lost: each round the producer's put falls between the consumer's check and its
    registration, and only the consumer's timeout (0.9 s) gets it going again.  One
    lost wake-up is absorbed by the average; all of them are not."""
    box = Mailbox()
    loop = asyncio.get_running_loop()
    latencies = []

    async def consumer():
        for round_ in range(JOBS):
            await asyncio.sleep(round_ - loop.time())   # rounds start each second
            put_at = await box.get()
            latencies.append(loop.time() - put_at)

    async def producer():
        for round_ in range(JOBS):
            await asyncio.sleep(round_ - loop.time())
            await asyncio.sleep(0)                      # prepare the job
            box.put(loop.time())

    await asyncio.gather(consumer(), producer(), *(_busy(i) for i in range(3)))
    mean = sum(latencies) / len(latencies)
    assert mean < 0.7, f"mean latency {mean:.2f}s over {JOBS} jobs: every wake-up was lost"


if __name__ == "__main__":
    from coroloop.testing import explore, replay

    for program in (bank_race, lost_wakeup):
        found = explore(program, runs=1000, policy="pct")
        print(f"{program.__name__}: {found}")
        if found is not None:
            again = replay(found)
            print(f"  replayed: {type(again.exception).__name__}, same trace: "
                  f"{again.trace_hash == found.trace_hash}")
