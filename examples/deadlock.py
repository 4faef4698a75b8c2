"""Deadlocks and hangs: every task waits and nothing can wake them.

Two workers take the same two locks in opposite orders -- the classic lock-order
inversion.  Each gets its first lock, then waits forever for the other's.  Without
help the program just hangs.  ``coroloop.debug.detect_deadlocks(action="raise")``
notices, in the iteration where the last task began to wait, that no callback is
ready, no timer pending, no socket or pipe watched and no thread working for the
loop, and raises ``DeadlockError`` in the main task, carrying a ``DeadlockReport``:
every waiting task, what it waits for and who holds it, and the cycle.

A queue nobody fills, an event nobody sets and a condition nobody notifies are
caught the same way (the second part).  In debug mode detection is on by default
and logs the report as an error on the ``coroloop.debug`` logger (``action="log"``).
"""

import coroloop
import coroloop.debug


async def transfer(name, first, second):
    async with first:
        await coroloop.sleep(0.01)   # long enough for the other worker to start
        async with second:           # waits forever: the other worker holds it
            print(f"{name} moved the money")


async def bank():
    coroloop.debug.detect_deadlocks(action="raise")
    accounts, ledger = coroloop.Lock(), coroloop.Lock()
    names = {f"Lock at {id(accounts):#x}": "accounts", f"Lock at {id(ledger):#x}": "ledger"}
    try:
        await coroloop.gather(
            coroloop.create_task(transfer("alice", accounts, ledger), name="alice"),
            coroloop.create_task(transfer("bob", ledger, accounts), name="bob"))
    except coroloop.debug.DeadlockError as error:
        report = error.report
        print(f"DeadlockError: {len(report.tasks)} tasks wait, nothing can wake them")
        for info in report.tasks:  # TaskInfo, as coroloop.debug.snapshot() has them
            who = "the main task" if info.id == report.main else info.name
            holder = report.snapshot.task(info.wait.holder) if info.wait.holder else None
            held = f", held by {holder.name}" if holder else ""
            print(f"  {who} waits for {names.get(info.wait.target, info.wait.kind)}{held}")
        for cycle in report.cycles:
            print("  cycle: " + " -> ".join(info.name for info in cycle)
                  + f" -> {cycle[0].name}")
        raise


async def nobody_comes(what, wait):
    coroloop.debug.detect_deadlocks(action="raise")
    try:
        await wait
    except coroloop.debug.DeadlockError as error:
        [info] = error.report.tasks
        print(f"{what}: DeadlockError, the main task waits for {info.wait.kind}")


async def condition_never_notified():
    condition = coroloop.Condition()
    async with condition:
        await condition.wait()


if __name__ == "__main__":
    try:
        coroloop.run(bank())
    except coroloop.debug.DeadlockError:
        print("run() raised DeadlockError; the stuck workers were cancelled")
    coroloop.run(nobody_comes("a queue with no producer", coroloop.Queue().get()))
    coroloop.run(nobody_comes("an event never set", coroloop.Event().wait()))
    coroloop.run(nobody_comes("a condition never notified", condition_never_notified()))
