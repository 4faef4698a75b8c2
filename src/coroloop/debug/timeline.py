"""The timeline page: a trace drawn as one self-contained HTML file.

``write_timeline("trace.json", "timeline.html")`` (or ``python -m coroloop timeline
trace.json -o timeline.html``) puts the trace into a copy of ``timeline.html`` (this
package's template): one file with its script and data inline, which any browser
opens from disk with no network access.  It draws one lane per task over time:
steps, waits coloured by kind, spawn and wake-up arrows, the ready-queue length;
ctrl+wheel or +/- zooms, dragging pans, the wheel scrolls lanes, hovering shows
details.  ``window.coroloopTimeline`` says what was drawn (the browser test reads it).
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources

__all__ = ["render_timeline", "write_timeline"]


def _template() -> str:
    return resources.files(__package__).joinpath("timeline.html").read_text(encoding="utf-8")


def render_timeline(trace, *, title: str = "coroloop timeline") -> str:
    """The page's HTML for *trace*: a Chrome trace as a dict (or list of events)."""
    _check_trace(trace)
    return _page(json.dumps(trace, separators=(",", ":")), title)


def write_timeline(trace_path, html_path, *, title: str | None = None) -> None:
    """Read the Chrome trace JSON at *trace_path*; write its timeline to *html_path*."""
    trace_path = os.fspath(trace_path)
    with open(trace_path, encoding="utf-8") as source:
        text = source.read()
    try:
        trace = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{trace_path}: not JSON ({exc}); give the file that "
                         "record_trace or python -m coroloop trace wrote") from None
    _check_trace(trace)
    del trace
    if title is None:
        title = f"coroloop timeline: {os.path.basename(trace_path)}"
    page = _page(text.strip(), title)  # the file's own text: no second encoding
    with open(html_path, "w", encoding="utf-8") as out:
        out.write(page)


def _check_trace(trace) -> None:
    if isinstance(trace, dict):
        if not isinstance(trace.get("traceEvents"), list):
            raise ValueError("not a Chrome trace: the JSON object has no 'traceEvents' list "
                             "(write one with coroloop.debug.record_trace or "
                             "python -m coroloop trace)")
    elif not isinstance(trace, list):
        raise ValueError(f"not a Chrome trace: expected a JSON object or list of events, "
                         f"got {type(trace).__name__}")


def _page(data: str, title: str) -> str:
    """The template with *data* (JSON text) and *title* filled in."""
    # Inside <script>, "</script" would end the element and "<!--" or "<script" change
    # how it is parsed: no "<" at all ("\u003c" means the same in JSON).
    data = data.replace("<", "\\u003c")
    page = _template().replace("__TITLE__", html.escape(title))
    return page.replace("__TRACE_JSON__", data, 1)
