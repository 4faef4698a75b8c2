"""The fuzz targets' corpus, replayed (no atheris needed): every seed and every
input the fuzzer kept must still run clean.  ``make stress`` fuzzes for real."""

from __future__ import annotations

import pathlib
import sys

import pytest

FUZZ = pathlib.Path(__file__).parent / "fuzz"
sys.path.insert(0, str(FUZZ))

import fuzz_streams  # noqa: E402
import fuzz_tls  # noqa: E402
from coroloop._net.tls import TLSState  # noqa: E402

CORPUS = sorted((FUZZ / "corpus").glob("*/*"))
TARGETS = {"tls": fuzz_tls.test_one_input, "streams": fuzz_streams.test_one_input}


@pytest.mark.parametrize("path", CORPUS, ids=[f"{p.parent.name}/{p.name}" for p in CORPUS])
def test_corpus_input_runs_clean(path):
    TARGETS[path.parent.name](path.read_bytes())


def test_the_tls_seeds_reach_deep_states():
    # A harness whose seeds stopped at the first record would fuzz nothing useful.
    fuzz_tls.test_one_input((FUZZ / "corpus" / "tls" / "handshake_data_shutdown").read_bytes())
    assert fuzz_tls.LAST_RUN == {"states": (TLSState.SHUTDOWN, TLSState.SHUTDOWN),
                                 "received": (600, 12)}


def test_the_corpus_is_small():
    assert len(CORPUS) <= 64 and sum(p.stat().st_size for p in CORPUS) < 64 * 1024
