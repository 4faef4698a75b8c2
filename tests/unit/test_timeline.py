"""The timeline page (coroloop.debug.write_timeline, python -m coroloop timeline):
one self-contained file, drawn in a real browser -- Debian's chromium, headless
(`make test` installs it when missing; without it the browser test fails, it
never skips).

The browser test loads the page of a known trace twice: with ``--dump-dom`` (the
page writes what it drew into ``<body data-...>``) and console logging on stderr
(any console message or uncaught error fails the test), then with
``--screenshot``, kept as ``timeline.png`` in the test's temp dir; the screenshot's
pixels show the steps drawn in the lanes where the DOM says the lanes are.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

import pytest

import coroloop
import coroloop.debug
from coroloop.debug.timeline import render_timeline
from coroloop.testing import new_virtual_loop

from test_trace import known_program, record, run_cli

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
STEP_COLOR = (0x08, 0x51, 0x9C)  # the page's colour of a step


def test_the_page_is_one_file_that_needs_no_network(tmp_path):
    _, trace = record(tmp_path, known_program)
    page = render_timeline(trace)
    assert "traceEvents" in page and "victim" in page
    # Nothing is loaded from anywhere: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "fetch(" not in page
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)


def test_names_cannot_break_out_of_the_page(tmp_path):
    async def main():
        await coroloop.create_task(coroloop.sleep(0), name="</script><script>alert(1)</script>")

    _, trace = record(tmp_path, main)
    page = render_timeline(trace, title="<b>title</b>")
    scripts = re.findall(r"<script\b", page)
    assert len(scripts) == 2  # the data and the program, nothing injected
    assert "&lt;b&gt;title&lt;/b&gt;" in page
    data = re.search(r'<script id="trace-data" type="application/json">(.*?)</script>',
                     page, re.S).group(1)
    assert json.loads(data) == trace


def test_render_timeline_refuses_what_is_not_a_trace():
    with pytest.raises(ValueError, match="no 'traceEvents' list"):
        render_timeline({"events": []})
    with pytest.raises(ValueError, match="expected a JSON object or list"):
        render_timeline("trace.json")


def test_python_m_coroloop_timeline(tmp_path):
    _, trace = record(tmp_path, known_program)
    out = tmp_path / "page.html"
    proc = run_cli("timeline", str(tmp_path / "trace.json"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("<!DOCTYPE html>")
    # Default output: next to the trace, with .html.
    proc = run_cli("timeline", str(tmp_path / "trace.json"))
    assert proc.returncode == 0 and (tmp_path / "trace.html").exists()
    (tmp_path / "bad.json").write_text("{not json")
    proc = run_cli("timeline", str(tmp_path / "bad.json"))
    assert proc.returncode == 2 and "not JSON" in proc.stderr
    proc = run_cli("timeline", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "missing.json" in proc.stderr


# -- in a real browser -----------------------------------------------------------------

def chromium(*args, timeout=120):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is not installed: `make test` installs Debian's chromium package"
    profile = tempfile.mkdtemp(prefix="coroloop-timeline-chromium-")
    try:
        return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class BodyData(html.parser.HTMLParser):
    """The data-* attributes of <body> in a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.data = None

    def handle_starttag(self, tag, attrs):
        if tag == "body" and self.data is None:
            self.data = {k[5:]: v for k, v in attrs if k.startswith("data-")}


def read_png(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA PNG (what chromium writes)."""
    with open(path, "rb") as f:
        blob = f.read()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(blob):
        length, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        body = blob[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6) and body[12] == 0, "8-bit, not interlaced"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    channels = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc
                                      else corner)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, channels)])
        previous = line
    return width, height, rows


def test_the_page_renders_in_headless_chromium(tmp_path):
    # A real-clock trace of the example pipeline: steps and waits of visible length.
    path = tmp_path / "trace.json"
    loop = coroloop.new_event_loop()
    try:
        import runpy
        example = runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "..",
                                              "examples", "timeline.py"))
        with coroloop.debug.record_trace(path, loop=loop):
            loop.run_until_complete(loop.create_task(example["main"](), name="main"))
    finally:
        loop.close()
    trace = json.loads(path.read_text())
    expected = [e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"]
    page = tmp_path / "timeline.html"
    page.write_text(render_timeline(trace))
    url = page.as_uri()

    proc = chromium("--window-size=1280,800", "--enable-logging=stderr", "--v=0",
                    "--dump-dom", url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], "the page wrote to the console or raised:\n" + "\n".join(console)
    body = BodyData()
    body.feed(proc.stdout)
    data = body.data
    assert data and data["ready"] == "true", proc.stdout[:2000]
    assert data["errors"] == "0"
    assert int(data["lanes"]) == len(expected)
    lanes = json.loads(data["lane-rows"])
    assert [lane["name"] for lane in lanes] == expected  # all fit in 800 px
    assert {"producer", "worker-1", "worker-2", "watchdog", "loop"} <= set(expected)
    assert int(data["steps"]) > 20 and int(data["waits"]) > 20
    assert int(data["arrows"]) > 10

    shot = tmp_path / "timeline.png"
    proc = chromium("--window-size=1280,800", "--hide-scrollbars", f"--screenshot={shot}", url)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    width, height, rows = read_png(shot)
    assert (width, height) == (1280, 800)
    left = int(data["plot-left"])

    def step_pixels(lane):
        top = round(lane["top"])
        return sum(1 for y in range(top, top + lane["height"]) for pixel in rows[y][left:]
                   if all(abs(a - b) <= 8 for a, b in zip(pixel, STEP_COLOR)))

    for lane in lanes:
        if lane["steps"]:
            assert step_pixels(lane) > 0, f"no step drawn in lane {lane}"
        else:
            assert step_pixels(lane) == 0, f"steps drawn in the step-less lane {lane}"
    print(f"screenshot: {shot}")
