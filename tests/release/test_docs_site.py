"""The documentation site: it builds in strict mode, and a browser can read it.

The site is built as ``make docs`` builds it (``mkdocs build --strict``, mkdocs.yml),
into a temporary directory, then opened from ``file://`` in headless Chromium
(Debian's, installed by ``make test``), driven over the DevTools protocol from a
coroloop loop (``browser.py``).  Strictness is shown, not assumed: a copy of the docs
with one broken link, and one with a reference to a missing name, must fail to build.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import coroloop
import coroloop.testing

from browser import Browser, chromium_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


def _build(project: pathlib.Path, site: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site),
         "--config-file", str(project / "mkdocs.yml")],
        cwd=project, capture_output=True, text=True, timeout=150,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def _copy_project(tmp: pathlib.Path) -> pathlib.Path:
    """What the docs build reads, copied: mkdocs.yml, docs/, the hooks, the sources and
    the files outside docs/ that the site publishes."""
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project)
    for tree in ("docs", "tools", "src", "examples"):
        shutil.copytree(ROOT / tree, project / tree,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (project / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "README.md", project / "benchmarks")
    return project


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    done = _build(ROOT, site)
    assert done.returncode == 0, done.stdout + done.stderr
    return site


def test_strict_build_fails_on_a_broken_link(tmp_path):
    project = _copy_project(tmp_path)
    page = project / "docs" / "guide" / "gather.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no_such_page.md).\n")
    done = _build(project, tmp_path / "site")
    assert done.returncode != 0
    assert "no_such_page.md" in done.stdout + done.stderr


def test_strict_build_fails_on_a_missing_reference(tmp_path):
    project = _copy_project(tmp_path)
    reference = project / "docs" / "reference.md"
    reference.write_text(reference.read_text() + "\n::: coroloop.no_such_name\n")
    done = _build(project, tmp_path / "site")
    assert done.returncode != 0
    assert "no_such_name" in done.stdout + done.stderr


def test_site_files(site):
    for page in ("index.html", "cli.html", "guide/gather.html", "guide/scaling.html",
                 "guide/pytest_asyncio.html", "reference.html", "examples/gather.html"):
        assert (site / page).is_file(), page
    # Offline search: the index ships as a script, no server needed to fetch it.
    assert (site / "search" / "search_index.js").is_file()


def test_reference_documents_every_public_name(site):
    html = (site / "reference.html").read_text()
    for name in coroloop.__all__:
        assert f'id="coroloop.{name}"' in html or f"q=asyncio.{name})" in html \
            or f"q=asyncio.{name}" in html, name
    for name in coroloop.testing.__all__:
        assert f'id="coroloop.testing.{name}"' in html, name


def test_pages_render_and_search_finds_gather_in_chromium(site):
    binary = chromium_binary()
    assert binary, "chromium is not installed (make test installs Debian's chromium)"

    async def main():
        browser = await Browser.start(binary)
        try:
            page = await browser.first_page()
            try:
                await _check_pages(page, site)
            finally:
                await page.close()
        finally:
            browser.close()

    with asyncio.Runner(loop_factory=coroloop.new_event_loop) as runner:
        runner.run(main())


async def _check_pages(page, site: pathlib.Path) -> None:
    base = site.as_uri()
    await page.call("Network.enable")  # every request the pages make is recorded

    # The home page: the theme's layout (header, navigation) around the content.
    await page.goto(f"{base}/index.html")
    title = await page.evaluate("document.querySelector('.md-content h1').textContent")
    assert title.strip().startswith("coroloop")
    nav = await page.evaluate(
        "[...document.querySelectorAll('.md-nav__link')].map(a => a.textContent.trim())")
    assert "Scaling out" in nav and "API reference" in nav
    assert await page.evaluate("getComputedStyle(document.querySelector('.md-header'))"
                               ".position") in ("sticky", "fixed")

    # A guide page: its heading and a highlighted code block.
    await page.goto(f"{base}/guide/gather.html")
    heading = await page.evaluate("document.querySelector('.md-content h1').textContent")
    assert "gather" in heading
    assert await page.evaluate("document.querySelectorAll('.md-content .highlight').length") > 0

    # An API page: gather's entry, with its signature and docstring.
    await page.goto(f"{base}/reference.html")
    entry = await page.evaluate(
        "(() => { const h = document.getElementById('coroloop.gather');"
        "  return h && h.closest('.doc').textContent; })()")
    assert entry and "return_exceptions" in entry

    # Search, from file://: click the search box, type, read the results.
    await page.goto(f"{base}/index.html")
    box = "document.querySelector('.md-search__input')"
    await page.click(".md-search__input")
    await page.wait_for(f"document.activeElement === {box}")
    await page.type("gather")
    await page.wait_for(f"{box}.value === 'gather'")
    try:
        results = await page.wait_for(
            "(() => { const items = [...document.querySelectorAll('.md-search-result__item')];"
            "  return items.length && items.map(i => i.textContent); })()")
    except AssertionError as no_results:
        state = await page.evaluate(
            "JSON.stringify({meta: document.querySelector('.md-search-result__meta')"
            ".textContent.trim(), toggle: document.querySelector('[data-md-toggle=search]')"
            ".checked, frames: document.querySelectorAll('iframe').length})")
        raise AssertionError(f"{no_results}; search state: {state}") from None
    assert any("gather" in text for text in results), results
    assert any(text.startswith("gather()") for text in results), results  # the guide page

    # Offline: the pages asked for nothing but the site's own files.
    requested = [event["params"]["request"]["url"] for event in page.events
                 if event["method"] == "Network.requestWillBeSent"]
    assert any(url.endswith("search_index.js") for url in requested), requested
    assert all(url.split(":", 1)[0] in ("file", "data", "about", "blob")
               for url in requested), [u for u in requested if not u.startswith("file:")]
