# coroloop — make demo | make test | make bench
#
# Everything runs from virtual environments this Makefile creates, so a fresh
# machine with Python 3.11+ and make is all that is needed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $(HOME)/.pyenv)
# Other interpreters the conformance suite runs on, when present.
EXTRA_PYTHONS := $(wildcard $(PYENV_ROOT)/versions/3.12.*/bin/python3.12) \
                 $(wildcard $(PYENV_ROOT)/versions/3.13.*/bin/python3.13)
TEST_DEPS := pytest pytest-timeout uvloop
# Third-party libraries the interop tests run on coroloop's loop.
INTEROP_REQUIREMENTS := tests/interop/requirements.txt

# --- Debian packages the tests need ---------------------------------------------------
# The ONE place Debian packages are installed: each entry is PACKAGE:PROBE, where PROBE
# is a command on PATH or a file glob that exists once the package is installed.  Only
# the missing packages are installed, with one `apt-get update` first (CI is root);
# flock serialises apt with other checkouts on the same machine.  Add a package here
# as one more entry.
DEBIAN_TEST_PACKAGES := \
  postgresql:/usr/lib/postgresql/*/bin/postgres \
  redis-server:redis-server \
  chromium:chromium

$(VENV)/.debian-deps: Makefile
	@missing=""; \
	for entry in $(DEBIAN_TEST_PACKAGES); do \
	  pkg=$${entry%%:*}; probe=$${entry#*:}; \
	  case $$probe in \
	    */*) ls $$probe >/dev/null 2>&1 || missing="$$missing $$pkg" ;; \
	    *) command -v $$probe >/dev/null 2>&1 || missing="$$missing $$pkg" ;; \
	  esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "== installing Debian packages:$$missing"; \
	  flock /tmp/coroloop-apt.lock sh -c "apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing" || exit 1; \
	fi
	@mkdir -p $(VENV) && touch $@

# --- ecosystem: docs site and release tooling -------------------------------------------
# `make docs` builds the site (MkDocs, strict: a broken link or reference fails) into
# site/; the docs and release tests (tests/release) build their own copies.
DOCS_REQUIREMENTS := docs/requirements.txt
RELEASE_REQUIREMENTS := tests/release/requirements.txt
HOST_REQUIREMENTS := tests/interop/requirements-host.txt
ECOSYSTEM_STAMPS := $(VENV)/.debian-deps $(VENV)/.docs-deps
# Tests that need this machine's Debian services and tools (PostgreSQL, Redis, Chromium,
# a pty with readline) or the host-only requirements: they run in the main pytest run,
# and the 3.14/3.15 chroot run leaves them out (it has none of those).
HOST_ONLY_TESTS := tests/cli tests/release tests/interop/test_servers.py \
  tests/interop/test_asyncpg.py tests/interop/test_redis.py tests/interop/test_dask.py \
  tests/interop/test_pytest_asyncio.py \
  tests/unit/test_timeline.py::test_the_page_renders_in_headless_chromium
# --ignore keeps pytest from importing a file inside a collected directory; --deselect
# drops a testpaths entry itself (pytest collects those even when --ignore names them).
HOST_ONLY_IGNORES := $(foreach t,$(HOST_ONLY_TESTS),--ignore=$(t) --deselect=$(t))

$(VENV)/.docs-deps: $(VENV)/.installed $(DOCS_REQUIREMENTS) $(RELEASE_REQUIREMENTS) \
                    $(HOST_REQUIREMENTS)
	$(PY) -m pip install -q -r $(DOCS_REQUIREMENTS) -r $(RELEASE_REQUIREMENTS) \
	  -r $(HOST_REQUIREMENTS)
	touch $@

# -- type checking (issue 12) ------------------------------------------------------------
# mypy with pyproject's [tool.mypy] on src/coroloop, for each supported version's stubs;
# tests/release/test_typing.py runs the same in `make test` and also checks that the
# public API types as asyncio's does (tests/typing/api_usage.py).
TYPECHECK_DEPS := mypy>=1.10
TYPECHECK_VERSIONS := 3.11 3.12 3.13
ECOSYSTEM_STAMPS += $(VENV)/.typecheck-deps
.PHONY: typecheck

$(VENV)/.typecheck-deps: $(VENV)/.installed Makefile
	$(PY) -m pip install -q "$(TYPECHECK_DEPS)"
	touch $@

typecheck: $(VENV)/.typecheck-deps
	@for v in $(TYPECHECK_VERSIONS); do \
	  echo "== mypy src/coroloop for Python $$v"; $(PY) -m mypy --python-version $$v || exit 1; \
	done
# -- end of type checking ----------------------------------------------------------------

docs: $(VENV)/.docs-deps
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --clean --site-dir site
	@echo "== the site is in site/ (open site/index.html; search works from file://)"

.PHONY: demo test test-unit conformance bench clean differential fuzz docs

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	COROLOOP_PURE=1 $(PY) -m pip install -q -e .  # the checkout stays pure Python
	touch $@

$(VENV)/.test-deps: $(VENV)/.installed Makefile $(INTEROP_REQUIREMENTS)
	$(PY) -m pip install -q $(TEST_DEPS) -r $(INTEROP_REQUIREMENTS)
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/showcase.py

test: $(VENV)/.test-deps $(ECOSYSTEM_STAMPS)
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory test-versions
	$(MAKE) --no-print-directory conformance
	$(MAKE) --no-print-directory differential
	$(MAKE) --no-print-directory test-chroot-pythons
	$(MAKE) --no-print-directory test-compiled

test-unit: $(VENV)/.test-deps $(ECOSYSTEM_STAMPS)
	$(PY) -m pytest -q

conformance: $(VENV)/.test-deps
	$(PY) tests/conformance/run.py
	@for p in $(EXTRA_PYTHONS); do \
	  echo "== conformance on $$p"; PYTHONPATH=src $$p tests/conformance/run.py || exit 1; \
	done
	@for v in 3.12 3.13; do \
	  echo "$(EXTRA_PYTHONS)" | grep -q "python$$v" || echo "(skipped: Python $$v not found under $(PYENV_ROOT))"; \
	done

# -- differential testing: generated programs on stdlib asyncio and on coroloop ------
# tests/differential/README.md.  DIFF_PYTHONS are interpreters, one word each (a path
# to a python or to a wrapper script); each gets DIFF_COUNT programs in `make test`,
# DIFF_FUZZ_COUNT in `make fuzz`.  The versions in DIFF_CHROOT_VERSIONS (3.14, 3.15)
# join them from the Debian sid chroot (block "Python 3.14 and 3.15" below), each as
# the one-word wrapper `tools/chroot-python --interpreter X.Y` writes; a version the
# chroot cannot give here is skipped, with the reason.  The regression tests of what
# the harness found run on each of them (pytest runs them on $(PY)).
DIFF_PYTHONS ?= $(PY) $(EXTRA_PYTHONS)
DIFF_CHROOT_VERSIONS ?= $(CHROOT_VERSIONS)
DIFF_COUNT ?= 500
DIFF_FUZZ_COUNT ?= 5000
DIFF_FUZZ_SEED ?= 100000
DIFF_REGRESSIONS := tests/unit/test_differential_regressions.py
# Shell: $$pythons = DIFF_PYTHONS and the chroot wrappers, $$skipped = what is not
# there and why, $$args = one --python per interpreter.
DIFF_FIND_PYTHONS = pythons="$(DIFF_PYTHONS)"; skipped=; \
	for v in 3.12 3.13; do \
	  echo "$(DIFF_PYTHONS)" | grep -q "python$$v" || skipped="$$skipped Python $$v: not found under $(PYENV_ROOT);"; \
	done; \
	for v in $(DIFF_CHROOT_VERSIONS); do \
	  if why=$$($(CHROOT_PYTHON) --check $$v); then \
	    p=$$($(CHROOT_PYTHON) --interpreter $$v) || exit 1; pythons="$$pythons $$p"; \
	  else skipped="$$skipped Python $$v: $$why;"; fi; \
	done; \
	args=; for p in $$pythons; do args="$$args --python $$p"; done
DIFF_SAY_SKIPPED = echo "== differential: skipped:$${skipped:- none}"

differential: $(VENV)/.test-deps chroot-deps
	@$(DIFF_FIND_PYTHONS); \
	$(PY) tests/differential/run.py --count $(DIFF_COUNT) $$args || exit 1; \
	for p in $$pythons; do \
	  [ "$$p" = "$(PY)" ] && continue; \
	  echo "== differential regressions on $$p"; PYTHONPATH=src $$p $(DIFF_REGRESSIONS) || exit 1; \
	done; \
	$(DIFF_SAY_SKIPPED)

fuzz: $(VENV)/.test-deps chroot-deps
	@$(DIFF_FIND_PYTHONS); \
	$(PY) tests/differential/run.py --count $(DIFF_FUZZ_COUNT) --seed $(DIFF_FUZZ_SEED) --max-reports 20 $$args || exit 1; \
	$(DIFF_SAY_SKIPPED)

bench: $(VENV)/.installed
	$(PY) -m pip install -q uvloop uvicorn starlette
	@$(PY) -m pip install -q rloop || echo "== rloop does not install here: its columns are skipped"
	@$(MAKE) --no-print-directory bench-compiled-venv
	$(PY) benchmarks/run.py $(BENCH_COMPILED)
	$(PY) benchmarks/net/echo.py $(BENCH_COMPILED)
	$(PY) benchmarks/net/httpbench.py $(BENCH_COMPILED)
	$(MAKE) --no-print-directory bench-chroot-python

# -- stress and fuzz (issue 14) ------------------------------------------------------
# `make test` runs tests/stress at its small size (it is in pytest's testpaths).
# `make stress` runs it at full size, the bad-input table on every installed Python,
# and each fuzz target (atheris) for FUZZ_SECONDS, from the corpus kept in the repo
# into a scratch directory (the repo's corpus stays small; a crash input is kept).
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := tls streams
.PHONY: stress

$(VENV)/.stress-deps: $(VENV)/.test-deps
	$(PY) -m pip install -q atheris
	touch $@

stress: $(VENV)/.stress-deps
	COROLOOP_STRESS=full $(PY) -m pytest -q tests/stress
	@for p in $(EXTRA_PYTHONS); do \
	  echo "== bad-input table on $$p"; \
	  (cd tests/stress && PYTHONPATH=../../src $$p test_bad_input.py) || exit 1; \
	done
	@for t in $(FUZZ_TARGETS); do \
	  work=$$(mktemp -d); echo "== fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  $(PY) tests/stress/fuzz/fuzz_$$t.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    -timeout=30 -artifact_prefix=$$work/ $$work tests/stress/fuzz/corpus/$$t \
	    || { echo "fuzz_$$t failed: its input is in $$work"; exit 1; }; \
	  rm -rf $$work; \
	done
# -- end of stress and fuzz ----------------------------------------------------------

# -- the unit tests on every installed Python (issue 7) ------------------------------
# Each version's asyncio is the reference for that version (isinstance, messages,
# private attributes): tests/unit runs on 3.12 and 3.13 too, each from its own venv.
.PHONY: test-versions

test-versions:
	@for p in $(EXTRA_PYTHONS); do \
	  venv=.venv-$$(basename $$p); \
	  if [ ! -f $$venv/.test-deps ]; then \
	    $$p -m venv $$venv && $$venv/bin/python -m pip install -q $(TEST_DEPS) && touch $$venv/.test-deps || exit 1; \
	  fi; \
	  echo "== tests/unit on $$p"; \
	  PYTHONPATH=src $$venv/bin/python -m pytest -q tests/unit || exit 1; \
	done
# -- end of the unit tests on every installed Python ---------------------------------

clean:
	rm -rf $(VENV) .venv-python3.* build dist site src/*.egg-info

# -- Python 3.14 and 3.15, from a Debian sid chroot (issue 15) ------------------------
# tools/chroot-python builds and caches the chroot (build/chroot/sid; override with
# COROLOOP_CHROOT) and a venv per version inside it, and runs each command in a private
# mount namespace, so nothing stays mounted whatever happens.  `make test` runs the
# unit, interop and conformance suites on each version it can, and says which it
# skipped and why; `make bench` adds the comparison suite on 3.14.
CHROOT_PYTHON := tools/chroot-python
CHROOT_VERSIONS ?= 3.14 3.15
CHROOT_BENCH_VERSION ?= 3.14

.PHONY: chroot-deps test-chroot-pythons bench-chroot-python

chroot-deps:
	@PATH="$$PATH:/usr/sbin:/sbin"; command -v debootstrap >/dev/null 2>&1 || \
	  [ "$$(id -u)" != 0 ] || \
	  flock /tmp/coroloop-apt.lock sh -c 'apt-get update -qq && apt-get install -y -qq debootstrap'

test-chroot-pythons: chroot-deps
	@ran=; skipped=; \
	for v in $(CHROOT_VERSIONS); do \
	  if ! why=$$($(CHROOT_PYTHON) --check $$v); then \
	    echo "== Python $$v skipped: $$why"; skipped="$$skipped $$v ($$why)"; continue; \
	  fi; \
	  $(CHROOT_PYTHON) --pip $$v $(TEST_DEPS) -r $(INTEROP_REQUIREMENTS) || exit 1; \
	  echo "== unit and interop tests on Python $$v (chroot; host-only: $(HOST_ONLY_TESTS))"; \
	  $(CHROOT_PYTHON) $$v -m pytest -q $(HOST_ONLY_IGNORES) || exit 1; \
	  echo "== conformance on Python $$v (chroot)"; \
	  $(CHROOT_PYTHON) $$v tests/conformance/run.py || exit 1; \
	  ran="$$ran $$v"; \
	done; \
	echo "== chroot Pythons: ran:$${ran:- none}; skipped:$${skipped:- none}"

bench-chroot-python: chroot-deps
	@if why=$$($(CHROOT_PYTHON) --check $(CHROOT_BENCH_VERSION)); then \
	  $(CHROOT_PYTHON) --pip $(CHROOT_BENCH_VERSION) uvloop && \
	  $(CHROOT_PYTHON) $(CHROOT_BENCH_VERSION) benchmarks/run.py; \
	else echo "== benchmarks on Python $(CHROOT_BENCH_VERSION) skipped: $$why"; fi
# -- end of Python 3.14 and 3.15 -----------------------------------------------------

# -- the compiled build (issue 13) ---------------------------------------------------
# setup.py compiles the modules src/coroloop/_build.py names with Cython, from the same
# .py files; the checkout's .venv stays pure Python (COROLOOP_PURE=1 above).
# `make test` installs the package once, compiled, into COMPILED_VENV (not editable:
# site-packages holds the .py files and the extension modules beside them) and runs
# the unit and interop tests (less HOST_ONLY_TESTS, which test the services, not the
# loop's build), the conformance suite and the differential harness on it, on Python
# 3.11; about 4 minutes, 2 of them compiling.  COROLOOP_EXPECT_COMPILED=1 makes
# tests/unit/test_build.py fail if the .py files were imported instead.  On a machine
# without a C compiler the compiled run is skipped, with a note.  `make bench` measures the compiled build as
# implementation coroloop-compiled (benchmarks/run.py --compiled).
COMPILED_VENV := .venv-compiled
CPY := $(COMPILED_VENV)/bin/python
COMPILED_DIFF_COUNT ?= $(DIFF_COUNT)
# The compiled venv's site-packages: the runners' --src (they put it on PYTHONPATH).
COMPILED_SITE = $$(cd / && $(abspath $(CPY)) -c 'import coroloop, os; print(os.path.dirname(os.path.dirname(coroloop.__file__)))')
COMPILED_SOURCES := pyproject.toml setup.py $(INTEROP_REQUIREMENTS) \
  $(shell find src -name '*.py' -o -name '*.pxd')
.PHONY: test-compiled

$(COMPILED_VENV)/.installed: $(COMPILED_SOURCES)
	rm -rf $(COMPILED_VENV)
	$(PYTHON) -m venv $(COMPILED_VENV)
	$(CPY) -m pip install -q --upgrade pip
	$(CPY) -m pip install -q $(TEST_DEPS) -r $(INTEROP_REQUIREMENTS)
	$(CPY) -m pip install -q .
	@cd / && $(abspath $(CPY)) -c 'import coroloop, sys; \
	  sys.exit(0 if coroloop.COMPILED else "the compiled build did not compile: see the notes of `pip install .` above")'
	touch $@

test-compiled:
	@if ! command -v $${CC:-cc} >/dev/null 2>&1; then \
	  echo "== compiled build: skipped (no C compiler: $${CC:-cc}); the pure build was tested"; exit 0; fi; \
	$(MAKE) --no-print-directory $(COMPILED_VENV)/.installed || exit 1; \
	site=$(COMPILED_SITE); \
	echo "== compiled build: unit and interop tests (coroloop from $$site)"; \
	COROLOOP_EXPECT_COMPILED=1 $(CPY) -m pytest -q tests/unit tests/interop $(HOST_ONLY_IGNORES) \
	  || exit 1; \
	echo "== compiled build: conformance"; \
	$(CPY) tests/conformance/run.py --src $$site || exit 1; \
	echo "== compiled build: differential ($(COMPILED_DIFF_COUNT) programs)"; \
	$(CPY) tests/differential/run.py --count $(COMPILED_DIFF_COUNT) --src $$site --python $(CPY)

# `make bench`: the compiled build beside the others, where it builds.
BENCH_COMPILED = $$([ -f $(COMPILED_VENV)/.installed ] && echo --compiled $(COMPILED_SITE))
.PHONY: bench-compiled-venv
bench-compiled-venv:
	@$(MAKE) --no-print-directory $(COMPILED_VENV)/.installed || \
	  echo "== the compiled build did not build here: coroloop-compiled is skipped"
# -- end of the compiled build -------------------------------------------------------
