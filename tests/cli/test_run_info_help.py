"""``python -m coroloop run``, ``info`` and ``--help``, each as a user runs it."""

from __future__ import annotations

import importlib
import platform
import textwrap

import pytest

import coroloop
from coroloop._cli import COMMANDS, HELP_WIDTH, build_parser

from cli_helpers import run_coroloop

pytestmark = pytest.mark.timeout(60)

# An unmodified asyncio program: every way it can get a loop reports the loop's class.
PROGRAM = '''\
import asyncio, sys
import sibling  # next to the script: its directory is first on sys.path

async def which():
    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__}.{type(loop).__name__} debug={loop.get_debug()}"

print("argv", sys.argv[1:], "name", __name__, "sibling", sibling.VALUE)
print("asyncio.run", asyncio.run(which()))
with asyncio.Runner() as runner:
    print("asyncio.Runner", runner.run(which()))
loop = asyncio.new_event_loop()
print("new_event_loop", loop.run_until_complete(which()))
loop.close()
loop = asyncio.get_event_loop_policy().new_event_loop()
print("policy", loop.run_until_complete(which()))
loop.close()
'''


@pytest.fixture
def program(tmp_path):
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "sibling.py").write_text("VALUE = 'found'\n")
    return tmp_path


def _loops(stdout: str) -> dict[str, str]:
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1]
            for line in stdout.splitlines() if not line.startswith("argv")}


def test_run_script_gives_coroloops_loop_everywhere(program, tmp_path):
    done = run_coroloop("run", str(program / "prog.py"), "--flag", "x", cwd=tmp_path.parent)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    first, *_ = done.stdout.splitlines()
    assert first == "argv ['--flag', 'x'] name __main__ sibling found"
    loops = _loops(done.stdout)
    assert set(loops) == {"asyncio.run", "asyncio.Runner", "new_event_loop", "policy"}
    assert set(loops.values()) == {"coroloop._event_loop.EventLoop debug=False"}, loops


def test_run_module_with_arguments(program):
    (program / "prog_pkg").mkdir()
    (program / "prog_pkg" / "__init__.py").write_text("")
    (program / "prog_pkg" / "__main__.py").write_text(PROGRAM.replace("import sibling", "import sibling  # cwd"))
    done = run_coroloop("run", "-m", "prog_pkg", "a", "-m", cwd=program)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "argv ['a', '-m'] name __main__ sibling found"
    assert set(_loops(done.stdout).values()) == {"coroloop._event_loop.EventLoop debug=False"}


def test_run_debug_turns_on_asyncios_debug_mode(program, tmp_path):
    slow = tmp_path / "slow.py"
    slow.write_text(textwrap.dedent('''\
        import asyncio, time

        async def main():
            print("debug", asyncio.get_running_loop().get_debug())
            asyncio.get_running_loop().call_soon(time.sleep, 0.15)  # a slow callback
            await asyncio.sleep(0.2)

        asyncio.run(main())
    '''))
    done = run_coroloop("run", "--debug", str(slow))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "debug True\n"
    assert "took 0.1" in done.stderr and "Executing" in done.stderr, done.stderr
    plain = run_coroloop("run", str(slow))
    assert plain.stdout == "debug False\n" and plain.stderr == ""


def test_run_reports_the_programs_outcome(tmp_path):
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    assert run_coroloop("run", str(tmp_path / "exits.py")).returncode == 3

    (tmp_path / "fails.py").write_text(
        "import asyncio\nasync def main():\n    raise ValueError('broken')\nasyncio.run(main())\n")
    done = run_coroloop("run", str(tmp_path / "fails.py"))
    assert done.returncode == 1
    assert done.stderr.startswith("Traceback (most recent call last):\n"
                                  f'  File "{tmp_path / "fails.py"}", line 4')
    assert done.stderr.endswith("ValueError: broken\n")
    assert "runpy" not in done.stderr and "_cli" not in done.stderr

    missing = run_coroloop("run", str(tmp_path / "nope.py"))
    assert missing.returncode == 2
    assert "can't open file" in missing.stderr and "run -m MODULE" in missing.stderr

    no_module = run_coroloop("run", "-m", "no_such_module_here", cwd=tmp_path)
    assert no_module.returncode == 1
    assert no_module.stderr == "python -m coroloop run: No module named no_such_module_here\n"


def test_help_lists_every_command_on_one_line():
    done = run_coroloop("--help", COLUMNS="80")
    assert done.returncode == 0
    listing = done.stdout.split("commands:", 1)[1].splitlines()[2:]  # after "COMMAND"
    names = [line.split()[0] for line in listing if line.strip()]
    assert names == list(COMMANDS), listing  # one line each: no wrapped continuations
    for name, line in zip(COMMANDS, listing):
        help_text = importlib.import_module(COMMANDS[name]).HELP
        assert len(help_text) <= HELP_WIDTH, name
        assert line.split(None, 1)[1] == help_text
    # The registry is what the parser is built from.
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMANDS)


def test_info_reports_versions_poller_and_extras():
    done = run_coroloop("info")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"coroloop {coroloop.__version__} (")
    assert lines[1].startswith(f"Python {platform.python_version()} (")
    assert lines[2] in ("poller: EpollPoller", "poller: SelectorPoller")
    assert lines[3] in ("child processes: pidfd", "child processes: a waiting thread each")
    assert lines[4].startswith("TLS (ssl): OpenSSL ")
    assert lines[5] == "REPL line editing (readline): available"
    # The checkout's venv is the pure build (the Makefile installs it COROLOOP_PURE=1).
    assert lines[6] == "build: pure Python (this installation has no compiled modules)"
    assert "extras (pip install 'coroloop[NAME]'):" in lines
    assert "libraries coroloop is tested with:" in lines
    assert any(line.startswith("  aiohttp: ") for line in lines)


def test_a_run_option_plugs_in_with_one_entry(monkeypatch):
    """What the debugging tools will do for --monitor/--trace: one RunOption each."""
    from coroloop._cli import run as run_command

    seen = []

    def enable(args):
        seen.append(args.trace_demo)
        raise SystemExit(7)  # stop before the program (and coroloop's policy) starts

    monkeypatch.setattr(run_command, "OPTIONS", [*run_command.OPTIONS, run_command.RunOption(
        "--trace-demo", "write a demo trace to FILE", enable,
        {"nargs": "?", "const": "trace.json", "metavar": "FILE"})])
    parser = build_parser()
    run_parser = next(a for a in parser._actions if a.dest == "command").choices["run"]
    assert "--trace-demo [FILE]" in run_parser.format_help()
    args = parser.parse_args(["run", "--trace-demo=out.json", "prog.py", "--trace-demo"])
    assert args.program_args == ["--trace-demo"]  # after the program: the program's
    with pytest.raises(SystemExit) as stopped:
        args.command_main(args)
    assert stopped.value.code == 7 and seen == ["out.json"]
    plain = parser.parse_args(["run", "prog.py"])
    assert plain.trace_demo is None and plain.debug is False
