"""coroloop's pytest plugin (``coroloop.testing.pytest_plugin``), run on sample suites.

Each test writes a small suite and runs pytest on it in-process (``pytester``), then
checks the outcome and what the report says (a wait's target is
``coroloop.debug``'s wording, so only its kind and place are checked).  pytest-asyncio's plugin is off in
those runs (tests/interop/test_pytest_asyncio.py runs the plugin beside it).
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import re
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def run(run_pytest_on_coroloop):
    return run_pytest_on_coroloop  # (tests/conftest.py)


def test_the_entry_point_is_declared_and_installed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"coroloop": "coroloop.testing.pytest_plugin"}
    try:
        coroloop_dist = importlib.metadata.distribution("coroloop")
    except importlib.metadata.PackageNotFoundError:
        return  # a source tree on PYTHONPATH (tests/conftest.py loads the plugin)
    assert [(ep.name, ep.value) for ep in coroloop_dist.entry_points
            if ep.group == "pytest11"] == [("coroloop", "coroloop.testing.pytest_plugin")]


def test_async_test_and_fixtures_on_one_coroloop_loop(pytester, run):
    pytester.makepyfile("""
        import asyncio, contextvars, pytest

        request_id = contextvars.ContextVar("request_id")
        loops = []

        @pytest.fixture
        async def value():
            request_id.set("set by a coroutine fixture")
            loops.append(asyncio.get_running_loop())
            return 1

        @pytest.fixture
        async def resource(value):
            loops.append(asyncio.get_running_loop())
            yield value + 1
            loops.append(asyncio.get_running_loop())   # teardown, same loop

        @pytest.mark.coroloop
        async def test_it(resource):
            loop = asyncio.get_running_loop()
            assert type(loop).__module__.startswith("coroloop")
            assert resource == 2
            assert request_id.get() == "set by a coroutine fixture"
            assert loops == [loop, loop]

        def test_after():
            assert len(loops) == 3 and loops[0] is loops[2] and loops[0].is_closed()
    """)
    result = run(pytester)
    result.assert_outcomes(passed=2)


def test_a_leaked_task_fails_the_test_naming_it_and_where_it_was_made(pytester, run):
    pytester.makepyfile("""
        import asyncio, pytest

        async def forever():
            await asyncio.Event().wait()

        @pytest.mark.coroloop
        async def test_leaks():
            asyncio.create_task(forever(), name="ticker")

        @pytest.mark.coroloop(allow_pending=True)
        async def test_may_leak():
            asyncio.create_task(forever(), name="allowed")
    """)
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "test_leaks left 1 task(s) pending (they were cancelled)*allow_pending=True*",
        "  - ticker (forever()) waiting on event * at "
        "test_a_leaked_task_fails_the_test_naming_it_and_where_it_was_made.py:4 in forever;"
        " created at test_a_leaked_task_fails_the_test_naming_it_and_where_it_was_made.py:8"
        " in test_leaks by test_leaks",
    ])
    assert "allowed" not in result.stdout.str()


def test_a_task_a_fixture_leaves_fails_the_teardown(pytester, run):
    pytester.makepyfile("""
        import asyncio, pytest

        @pytest.fixture
        async def background():
            asyncio.create_task(asyncio.sleep(3600), name="left-by-fixture")
            yield

        @pytest.mark.coroloop
        async def test_uses(background):
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_uses*",
        "1 task(s) still pending when the function-scoped loop closed (they were cancelled):",
        "  - left-by-fixture (sleep()) waiting on * created at *.py:5 in background "
        "by fixture 'background'",
    ])


def test_a_hung_test_times_out_with_its_task_tree(pytester, run):
    pytester.makepyfile("""
        import asyncio, pytest

        async def consumer(queue):
            await queue.get()

        async def locked(lock):
            async with lock:
                pass

        @pytest.mark.coroloop(timeout=0.2)
        async def test_hangs():
            queue, lock = asyncio.Queue(), asyncio.Lock()
            await lock.acquire()
            async with asyncio.TaskGroup() as group:
                group.create_task(consumer(queue), name="consumer")
                group.create_task(locked(lock), name="waiter")
    """)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "test_hangs did not finish within timeout=0.2 s; it was cancelled. "
        "Its loop's tasks then:",
        "  - Task-* (test_hangs()) waiting on taskgroup * in test_hangs; "
        "the task running test_hangs",
        "    - consumer (consumer()) waiting on queue_get * at *:4 in consumer; "
        "created at *:15 in test_hangs by test_hangs",
        "    - waiter (locked()) waiting on lock * at *:7 in locked; "
        "created at *:16 in test_hangs by test_hangs",
    ])
    # The tasks of the hung test are cancelled with it: no second report at teardown.
    assert "still pending" not in result.stdout.str()


def test_a_hung_test_that_turns_its_cancellation_into_an_error_still_gets_the_dump(
        pytester, run):
    pytester.makepyfile("""
        import asyncio, pytest

        @pytest.mark.coroloop(timeout=0.2, virtual_time=True)
        async def test_hangs():
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise RuntimeError("interrupted")
    """)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "test_hangs did not finish within timeout=0.2 s; it was cancelled.*",
        "  - Task-* (test_hangs()) waiting on event *"])


def test_virtual_time_is_one_clock_for_fixtures_and_test(pytester, run):
    pytester.makepyfile("""
        import asyncio, time, pytest
        from coroloop.testing import VirtualClock

        @pytest.fixture
        async def warmed_up():
            await asyncio.sleep(10)
            yield asyncio.get_running_loop().time()
            await asyncio.sleep(5)

        @pytest.mark.coroloop(virtual_time=True)
        async def test_a_day(warmed_up):
            loop = asyncio.get_running_loop()
            assert isinstance(loop.clock, VirtualClock)
            assert warmed_up == 10
            started = time.perf_counter()
            async with asyncio.timeout(3600):
                await asyncio.sleep(86400 - 10 - 1)
            assert loop.time() == 86400 - 1
            assert time.perf_counter() - started < 5

        @pytest.mark.coroloop
        async def test_real_time_by_default():
            assert not isinstance(asyncio.get_running_loop().clock, VirtualClock)
    """)
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)  # the timeout (virtual) expires first
    result.stdout.fnmatch_lines(["*TimeoutError*"])


def test_loop_scope_module_shares_one_loop(pytester, run):
    pytester.makepyfile("""
        import asyncio, pytest
        import coroloop.testing

        pytestmark = pytest.mark.coroloop(loop_scope="module")
        seen = []

        @coroloop.testing.fixture(scope="module")
        async def server():
            async def echo(reader, writer):
                writer.write(await reader.readline())
                await writer.drain()
                writer.close()
            srv = await asyncio.start_server(echo, "127.0.0.1", 0)
            yield srv.sockets[0].getsockname()[1]
            srv.close()
            await srv.wait_closed()

        @pytest.mark.parametrize("n", [1, 2])
        async def test_echo(server, n):
            seen.append(asyncio.get_running_loop())
            reader, writer = await asyncio.open_connection("127.0.0.1", server)
            writer.write(b"%d\\n" % n)
            assert await reader.readline() == b"%d\\n" % n
            writer.close()
            await writer.wait_closed()

        def test_same_loop():
            assert len(seen) == 2 and seen[0] is seen[1]
    """)
    result = run(pytester)
    result.assert_outcomes(passed=3)


def test_a_fixture_and_a_test_on_different_loop_scopes_is_a_clear_error(pytester, run):
    pytester.makepyfile("""
        import asyncio, pytest
        import coroloop.testing

        @pytest.fixture(scope="module")
        async def implicit():
            return asyncio.get_running_loop()

        @coroloop.testing.fixture(loop_scope="module", scope="module")
        async def explicit():
            return asyncio.get_running_loop()

        @pytest.mark.coroloop
        async def test_implicit(implicit):
            pass

        @pytest.mark.coroloop
        async def test_explicit(explicit):
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*fixture 'implicit' is module-scoped but test_implicit runs on a function-scoped "
        "loop, which closes before the fixture would: mark the tests using it "
        "@pytest.mark.coroloop(loop_scope='module')*",
        "*fixture 'explicit' runs on a module-scoped loop (loop_scope='module') but "
        "test_explicit runs on a function-scoped one*Mark the test "
        "@pytest.mark.coroloop(loop_scope='module')*",
    ])


def test_tests_sharing_a_loop_must_agree_on_virtual_time(pytester, run):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.coroloop(loop_scope="module")
        async def test_first():
            pass

        @pytest.mark.coroloop(loop_scope="module", virtual_time=True)
        async def test_second():
            pass
    """)
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*test_second asks for virtual_time=True, but it shares the module-scoped loop "
        "made for *test_first with virtual_time=False*"])


def test_auto_mode_and_bad_marks(pytester, run):
    pytester.makepyfile("""
        import asyncio, pytest

        async def test_auto():
            assert type(asyncio.get_running_loop()).__module__.startswith("coroloop")

        @pytest.mark.coroloop
        def test_not_async():
            pass
    """)
    result = run(pytester, ini="coroloop_mode = auto")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_not_async is marked coroloop but is not an "
                                 "'async def' function*"])
    pytester.makepyfile(test_bad="""
        import pytest

        @pytest.mark.coroloop(loop_scope="forever")
        async def test_bad():
            pass
    """)
    result = run(pytester, "test_bad.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*loop_scope='forever'*the loop scope is one of function, "
                                 "class, module, package, session*"])


def test_the_fixture_decorator_checks_its_loop_scope():
    import coroloop.testing

    with pytest.raises(ValueError, match=re.escape("fixture(loop_scope='test')")):
        coroloop.testing.fixture(loop_scope="test")


def test_async_fixture_methods_of_a_test_class(pytester, run):
    """A fixture defined in a class is bound to the test's instance, as pytest binds
    it; the class's tests share one loop with loop_scope="class"."""
    pytester.makepyfile("""
        import asyncio, pytest

        @pytest.mark.coroloop(loop_scope="class")
        class TestService:
            loops = []

            @pytest.fixture
            async def service(self):
                self.started = True
                yield self
                assert asyncio.get_running_loop() is self.loops[-1]

            async def test_one(self, service):
                assert service is self and self.started
                self.loops.append(asyncio.get_running_loop())

            async def test_two(self, service):
                assert service is self
                self.loops.append(asyncio.get_running_loop())
                assert self.loops[0] is self.loops[1]
    """)
    result = run(pytester)
    result.assert_outcomes(passed=2)


# -- seeded schedules (--coroloop-seed, --coroloop-explore) -----------------------------
RACE = """
    import asyncio, pytest

    balance = 0

    async def first():        # read, yield, write
        global balance
        seen = balance
        await asyncio.sleep(0)
        balance = seen + 1

    async def second():       # yield, read, yield, write: reads as first() writes
        global balance
        await asyncio.sleep(0)
        seen = balance
        await asyncio.sleep(0)
        balance = seen + 1

    @pytest.mark.coroloop
    async def test_lost_update():
        global balance
        balance = 0
        await asyncio.gather(first(), second())
        assert balance == 2
"""


def _summary_seeds(result) -> tuple[list[int], str]:
    """The failing seeds and the replay command of the explore summary."""
    line = next(line for line in result.stdout.lines if "schedules (seeds" in line)
    seeds = [int(s) for s in re.search(r"\(seeds ([\d, ]+)", line).group(1).split(", ")]
    return seeds, line.split("replay: ", 1)[1]


def test_explore_finds_the_race_and_prints_the_replay_command(pytester, run):
    pytester.makepyfile(test_race=RACE)
    assert run(pytester).ret == 0  # FIFO, asyncio's order: the race hides
    result = run(pytester, "--coroloop-explore=20")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] >= 1 and outcomes["passed"] >= 1, outcomes
    result.stdout.fnmatch_lines([
        "*coroloop: mode=strict, explore=20 schedules from seed 0*",
        "*= coroloop schedules =*",
        "test_race.py::test_lost_update: failed under * of 20 schedules (seeds *); "
        "replay: pytest test_race.py::test_lost_update --coroloop-seed=*",
    ])
    seeds, command = _summary_seeds(result)
    assert outcomes["failed"] == len(seeds)
    # Each failing run says how to replay it, in its own report.
    result.stdout.fnmatch_lines([
        "*- coroloop schedule -*",
        f"failed under RandomOrder({seeds[0]}), COROLOOP_SEED={seeds[0]}; replay: "
        f"pytest test_race.py::test_lost_update --coroloop-seed={seeds[0]}"])
    # The replay command fails the same way, every time; a passing seed passes.
    args = command.split()[1:]
    assert args == ["test_race.py::test_lost_update", f"--coroloop-seed={seeds[0]}"]
    for _ in range(3):
        run(pytester, *args).assert_outcomes(failed=1)
    passing = next(seed for seed in range(20) if seed not in seeds)
    run(pytester, f"--coroloop-seed={passing}").assert_outcomes(passed=1)


def test_seed_option_reports_the_seed_and_its_replay_line(pytester, run):
    pytester.makepyfile(test_race=RACE)
    explored = run(pytester, "--coroloop-explore=20")
    seed = _summary_seeds(explored)[0][0]
    result = run(pytester, f"--coroloop-seed={seed}", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"*coroloop: mode=strict, schedule=RandomOrder({seed})*",
        f"failed under RandomOrder({seed}), COROLOOP_SEED={seed}; replay: "
        f"pytest test_race.py::test_lost_update --coroloop-seed={seed}"])


def test_explore_runs_shared_loop_tests_once_and_keeps_test_params(pytester, run):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.coroloop(loop_scope="module")
        async def test_shared():
            pass

        @pytest.mark.coroloop
        @pytest.mark.parametrize("x", ["a"])
        async def test_param(x):
            assert x == "b"
    """)
    result = run(pytester, "--coroloop-explore=2", "-v")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*test_shared PASSED*"])
    result.stdout.fnmatch_lines(["*test_param[[]a-seed0] FAILED*",
                                 "*test_param[[]a-seed1] FAILED*"])
    # The replay line names the test without the schedule's id (quoted for the shell).
    result.stdout.fnmatch_lines(["*replay: pytest '*::test_param[[]a]' --coroloop-seed=0"])


def test_explore_needs_a_positive_count(pytester, run):
    pytester.makepyfile("def test_x(): pass")
    result = run(pytester, "--coroloop-explore=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--coroloop-explore=0: give a number of runs >= 1*"])


def test_a_fixture_yielding_twice_and_allow_pending_on_a_shared_loop(pytester, run):
    pytester.makepyfile("""
        import asyncio, pytest

        @pytest.fixture
        async def twice():
            yield 1
            yield 2

        @pytest.mark.coroloop
        async def test_uses_twice(twice):
            pass

        @pytest.mark.coroloop(loop_scope="module", allow_pending=True)
        async def test_starts_a_background_task():
            asyncio.create_task(asyncio.sleep(3600), name="background")

        @pytest.mark.coroloop(loop_scope="module", allow_pending=True)
        async def test_sees_it_still_running():
            names = [task.get_name() for task in asyncio.all_tasks()]
            assert "background" in names
    """)
    result = run(pytester)
    # The module loop closes with "background" still running: allowed, so no error.
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_uses_twice*",
        "*RuntimeError: async generator fixture 'twice' yielded twice: a fixture yields once"])
