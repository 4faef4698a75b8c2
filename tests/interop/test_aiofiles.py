"""aiofiles, unmodified, on coroloop's loop: every file operation is a
``loop.run_in_executor`` call (the default executor, or one passed in)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

aiofiles = pytest.importorskip("aiofiles")
import aiofiles.os  # noqa: E402
import aiofiles.tempfile  # noqa: E402


def test_write_read_lines_and_seek(run, tmp_path):
    path = tmp_path / "data.txt"
    lines = [f"line {i} ✓\n" for i in range(1000)]

    async def main():
        async with aiofiles.open(path, "w", encoding="utf-8") as f:
            for line in lines:
                await f.write(line)
            await f.flush()
        assert await aiofiles.os.path.exists(path)
        stat = await aiofiles.os.stat(path)
        async with aiofiles.open(path, encoding="utf-8") as f:
            read_lines = [line async for line in f]
            await f.seek(0)
            first = await f.readline()
            rest = await f.read()
        return stat.st_size, read_lines, first, rest

    size, read_lines, first, rest = run(main)
    assert read_lines == lines
    assert first == lines[0]
    assert rest == "".join(lines[1:])
    assert size == path.stat().st_size == len("".join(lines).encode())


def test_binary_concurrent_files(run, tmp_path):
    async def write_and_read(i):
        path = tmp_path / f"blob{i}.bin"
        data = bytes([i]) * (256 * 1024 + i)
        async with aiofiles.open(path, "wb") as f:
            await f.write(data)
        async with aiofiles.open(path, "rb") as f:
            return await f.read() == data

    async def main():
        return await asyncio.gather(*(write_and_read(i) for i in range(16)))

    assert run(main) == [True] * 16
    assert len(list(tmp_path.iterdir())) == 16


def test_os_functions_and_tempfile(run, tmp_path):
    async def main():
        src, dst = tmp_path / "a", tmp_path / "b"
        async with aiofiles.open(src, "w") as f:
            await f.write("moved")
        await aiofiles.os.rename(src, dst)
        await aiofiles.os.mkdir(tmp_path / "sub")
        names = sorted(await aiofiles.os.listdir(tmp_path))
        async with aiofiles.tempfile.NamedTemporaryFile("w+", dir=tmp_path) as tmp:
            await tmp.write("temporary")
            await tmp.seek(0)
            tmp_text = await tmp.read()
        await aiofiles.os.remove(dst)
        return names, tmp_text, await aiofiles.os.path.exists(dst)

    names, tmp_text, still_there = run(main)
    assert names == ["b", "sub"]
    assert tmp_text == "temporary"
    assert not still_there


def test_custom_executor_runs_the_io_off_the_loop_thread(run, tmp_path):
    path = tmp_path / "x.bin"
    threads = set()

    class RecordingExecutor(concurrent.futures.ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            def recorded():
                threads.add(threading.get_ident())
                return fn(*args, **kwargs)
            return super().submit(recorded)

    async def main():
        with RecordingExecutor(max_workers=2) as executor:
            async with aiofiles.open(path, "wb", executor=executor) as f:
                await f.write(b"abc" * 1000)
            async with aiofiles.open(path, "rb", executor=executor) as f:
                return await f.read()

    assert run(main) == b"abc" * 1000
    assert threads and threading.get_ident() not in threads


def test_cancelled_read_does_not_break_the_loop(run, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"z" * (8 * 1024 * 1024))

    async def main():
        async with aiofiles.open(path, "rb") as f:
            reads = [asyncio.ensure_future(f.read(1024 * 1024)) for _ in range(4)]
            reads[0].cancel()
            results = await asyncio.gather(*reads, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert all(r == b"z" * (1024 * 1024) for r in results[1:])
        # The loop and its default executor still work afterwards.
        async with aiofiles.open(path, "rb") as f:
            assert len(await f.read()) == 8 * 1024 * 1024

    run(main)
