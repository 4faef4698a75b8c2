"""examples/worker_pool.py runs and prints the same transcript every time (on coroloop)."""

from __future__ import annotations

import pathlib
import runpy

import pytest

import coroloop

pytestmark = pytest.mark.timeout(20)

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "worker_pool.py"

EXPECTED = """\
producer: queued 'resize a.png'
producer: queued 'resize b.png'
producer: queue full (2/2), waiting for room
  worker 0: start 'resize a.png'
  worker 1: start 'resize b.png'
producer: queued 'fail c.png'
producer: queued 'resize d.png'
producer: queue full (2/2), waiting for room
  worker 1: done 'resize b.png'
  worker 1: start 'fail c.png'
  worker 2: start 'resize d.png'
producer: queued 'resize e.png'
producer: queued 'resize f.png'
producer: all jobs queued; waiting for join()
  worker 2: done 'resize d.png'
  worker 2: start 'resize e.png'
  worker 0: done 'resize a.png'
  worker 0: start 'resize f.png'
  worker 1: 'fail c.png' failed: cannot process c.png
  worker 0: done 'resize f.png'
  worker 2: done 'resize e.png'
producer: every job is done; shutting the queue down
  worker 1: queue shut down, exiting
  worker 0: queue shut down, exiting
  worker 2: queue shut down, exiting
summary: 6 jobs
  fail c.png     failed: cannot process c.png
  resize a.png   ok: a.png
  resize b.png   ok: b.png
  resize d.png   ok: d.png
  resize e.png   ok: e.png
  resize f.png   ok: f.png
"""


def test_worker_pool_transcript(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert capsys.readouterr().out == EXPECTED
