"""MkDocs hooks for coroloop's site (mkdocs.yml ``hooks:``).

The docs link to files outside ``docs/``, as a reader of the repository expects
(``../../examples/gather.py``, ``../benchmarks/README.md``).  The site publishes
those files too, so the same links work in both places and strict mode still catches
a link that points nowhere:

* ``on_files`` adds a generated page per published file (``PUBLISHED``): an example
  becomes ``examples/NAME.md`` showing its source, a Markdown file is copied as is;
  ``on_config`` lists them in the navigation (the examples in a section of their own);
* ``on_page_markdown`` rewrites each link whose target, resolved from the page's own
  place in the repository, is a published file to the generated page.

The API reference is mkdocstrings' (``::: coroloop`` in docs/reference.md), except for
the names coroloop shares with asyncio (the very same objects: exceptions, protocol and
transport interfaces, constants): griffe cannot document objects of another package,
so ``on_page_markdown`` replaces ``<!-- shared-with-asyncio -->`` by a table of them,
computed from ``coroloop.__all__``, so it never goes stale.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import asyncio
import sys

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
SHARED_MARKER = "<!-- shared-with-asyncio -->"

# repository path -> site page (relative to docs/) for files outside docs/ the docs link to
PUBLISHED: dict[str, str] = {
    **{f"examples/{p.name}": f"examples/{p.stem}.md"
       for p in sorted((ROOT / "examples").glob("*.py"))},
    "benchmarks/README.md": "benchmarks/README.md",
}

_LINK = re.compile(r"\]\(([^)\s#]+)(#[^)\s]*)?\)")


def _page_text(repo_path: str) -> str:
    source = (ROOT / repo_path).read_text(encoding="utf-8")
    if repo_path.endswith(".md"):
        return source
    return (f"# {repo_path}\n\nRun it from a checkout: `python {repo_path}`.\n\n"
            f"```python\n{source}```\n")


def on_config(config):
    nav = config["nav"]
    nav.append({"Examples": [{f"{repo}": site} for repo, site in PUBLISHED.items()
                             if repo.startswith("examples/")]})
    nav.append({"The benchmark suite": PUBLISHED["benchmarks/README.md"]})
    return config


def on_files(files, config):
    for repo_path, site_path in PUBLISHED.items():
        files.append(File.generated(config, site_path, content=_page_text(repo_path)))
    return files


def shared_with_asyncio() -> list[str]:
    """The names of ``coroloop.__all__`` that are asyncio's own objects."""
    sys.path.insert(0, str(ROOT / "src"))
    try:
        import coroloop
    finally:
        sys.path.pop(0)
    return [name for name in coroloop.__all__
            if getattr(asyncio, name, None) is getattr(coroloop, name)]


def _shared_table() -> str:
    rows = ["| name | what it is (asyncio's documentation) |", "|---|---|"]
    for name in shared_with_asyncio():
        doc = (getattr(asyncio, name).__doc__ or "").strip().splitlines()
        summary = doc[0] if doc and not isinstance(getattr(asyncio, name), str) else \
            f"the constant {getattr(asyncio, name)!r}"
        rows.append(f"| [`{name}`](https://docs.python.org/3/search.html?q=asyncio.{name}) "
                    f"| {summary.replace('|', '&#124;')} |")
    return "\n".join(rows)


def on_page_markdown(markdown, page, config, files):
    if SHARED_MARKER in markdown:
        markdown = markdown.replace(SHARED_MARKER, _shared_table())
    page_repo_dir = posixpath.dirname("docs/" + page.file.src_uri)
    if page.file.src_uri in PUBLISHED.values():  # a generated page: it lives elsewhere
        repo = next(r for r, s in PUBLISHED.items() if s == page.file.src_uri)
        page_repo_dir = posixpath.dirname(repo)
    site_dir = posixpath.dirname(page.file.src_uri)

    def rewrite(match):
        target, anchor = match.group(1), match.group(2) or ""
        if "://" in target or target.startswith("/"):
            return match.group(0)
        repo_target = posixpath.normpath(posixpath.join(page_repo_dir, target))
        if repo_target in PUBLISHED:
            new = posixpath.relpath(PUBLISHED[repo_target], site_dir or ".")
            return f"]({new}{anchor})"
        if repo_target.startswith("docs/"):  # an ordinary link between doc pages
            new = posixpath.relpath(repo_target[len("docs/"):], site_dir or ".")
            return f"]({new}{anchor})"
        return match.group(0)  # left as is: strict mode reports it if it is broken

    return _LINK.sub(rewrite, markdown)
