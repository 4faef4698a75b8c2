"""Child processes on coroloop: run, stream, talk to, time out, and catch a signal.

    python examples/subprocesses.py

1. ``communicate()``: feed stdin, collect stdout and stderr, without deadlock even
   when the child floods both pipes at once.
2. Streaming: read a child's output line by line while it runs.
3. A conversation over stdin/stdout with ``write`` + ``drain`` + ``readline``.
4. Several children in parallel, with a timeout that kills a slow one.
5. A Unix signal handled as an ordinary callback on the loop.
"""

import asyncio
import os
import signal
import sys

import coroloop
from coroloop.subprocess import PIPE, create_subprocess_exec, create_subprocess_shell

PY = sys.executable
# coroloop's own combinators once exported; asyncio's work on coroloop's loop meanwhile.
wait_for = getattr(coroloop, "wait_for", asyncio.wait_for)
gather = getattr(coroloop, "gather", asyncio.gather)


async def flood() -> None:
    code = ("import sys; d = sys.stdin.buffer.read(); "
            "sys.stdout.buffer.write(d * 8); sys.stderr.buffer.write(d * 8)")
    proc = await create_subprocess_exec(PY, "-c", code, stdin=PIPE, stdout=PIPE, stderr=PIPE)
    out, err = await proc.communicate(b"x" * (1 << 20))
    print(f"1. communicate: {len(out) >> 20} MiB out, {len(err) >> 20} MiB err, "
          f"exit {proc.returncode}")


async def stream() -> None:
    proc = await create_subprocess_shell("for i in 1 2 3; do echo tick $i; done", stdout=PIPE)
    async for line in proc.stdout:
        print("2. streamed:", line.decode().strip())
    await proc.wait()


async def conversation() -> None:
    code = "import sys\nfor line in sys.stdin: print(line.strip()[::-1], flush=True)"
    proc = await create_subprocess_exec(PY, "-u", "-c", code, stdin=PIPE, stdout=PIPE)
    for word in ("coroloop", "subprocess"):
        proc.stdin.write(word.encode() + b"\n")
        await proc.stdin.drain()
        print(f"3. {word} -> {(await proc.stdout.readline()).decode().strip()}")
    proc.stdin.close()
    await proc.wait()


async def with_timeout(seconds: float) -> str:
    proc = await create_subprocess_exec(PY, "-c", f"import time; time.sleep({seconds})")
    try:
        await wait_for(proc.wait(), 0.5)
        return f"{seconds}s child finished (exit {proc.returncode})"
    except TimeoutError:
        proc.kill()
        return f"{seconds}s child timed out, killed: exit {await proc.wait()}"


async def parallel() -> None:
    for result in await gather(with_timeout(0.1), with_timeout(10)):
        print("4.", result)


async def signals() -> None:
    loop = coroloop.get_running_loop()
    got = loop.create_future()
    loop.add_signal_handler(signal.SIGUSR1, got.set_result, "SIGUSR1")
    os.kill(os.getpid(), signal.SIGUSR1)
    print("5. handled on the loop:", await got)
    loop.remove_signal_handler(signal.SIGUSR1)


async def main() -> None:
    await flood()
    await stream()
    await conversation()
    await parallel()
    await signals()


if __name__ == "__main__":
    with coroloop.Runner() as runner:
        runner.run(main())
