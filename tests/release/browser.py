"""Headless Chromium driven over the DevTools protocol, from a coroloop loop.

``Browser.start()`` launches Debian's ``chromium`` with a throwaway profile and
``--remote-debugging-port=0``; Chromium writes the port it chose to
``DevToolsActivePort`` in the profile.  ``Page`` speaks the protocol over a
websocket (the ``websockets`` library, on coroloop's loop): ``goto(url)`` loads a
page and waits for it, ``evaluate(js)`` returns a JavaScript value, ``wait_for(js)``
polls an expression until it is truthy.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request

import websockets.asyncio.client

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--window-size=1280,900"]  # wide enough for the desktop layout


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


class Browser:
    def __init__(self, proc: subprocess.Popen, profile: str, port: int):
        self.proc = proc
        self.profile = profile
        self.port = port

    @classmethod
    async def start(cls, binary: str, timeout: float = 120) -> "Browser":
        profile = tempfile.mkdtemp(prefix="coroloop-chromium-")
        proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(profile, "DevToolsActivePort")
        try:
            async with asyncio.timeout(timeout):
                while not _read(port_file).count("\n"):
                    if proc.poll() is not None:
                        raise RuntimeError(f"chromium exited with status {proc.returncode}")
                    await asyncio.sleep(0.05)
        except BaseException:
            proc.kill()
            proc.wait()
            shutil.rmtree(profile, ignore_errors=True)
            raise
        port = int(_read(port_file).split()[0])
        return cls(proc, profile, port)

    async def first_page(self) -> "Page":
        def targets():
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list",
                                        timeout=30) as response:
                return json.load(response)

        pages = [t for t in await asyncio.to_thread(targets) if t["type"] == "page"]
        socket = await websockets.asyncio.client.connect(
            pages[0]["webSocketDebuggerUrl"], max_size=None, proxy=None)
        return Page(socket)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, socket):
        self._socket = socket
        self._ids = itertools.count(1)
        self.events: list[dict] = []   # protocol events received so far, in order

    async def call(self, method: str, **params):
        """One protocol command; its result (events arriving meanwhile go to ``events``)."""
        call_id = next(self._ids)
        await self._socket.send(json.dumps({"id": call_id, "method": method,
                                            "params": params}))
        while True:
            message = json.loads(await self._socket.recv())
            if "method" in message:
                self.events.append(message)
            elif message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression,
                                 returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 90):
        """Poll *expression* until it is truthy; its value.  (The timeout only bounds a
        broken page: a loaded CI machine may take seconds where this one takes ms.)"""
        value = None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    value = await self.evaluate(expression)
                    if value:
                        return value
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"still {value!r} after {timeout}s: {expression}") from None

    async def click(self, selector: str) -> None:
        """A real mouse click (pressed, released) in the middle of the element."""
        x, y = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y,
                            button="left", clickCount=1)

    async def type(self, text: str) -> None:
        """Text typed into the focused element, as a keyboard would: a key pressed and
        released per character.  (``Input.insertText`` fires no ``keyup``, and a page
        that reads its input on ``keyup``, as Material's search does, misses it.)"""
        for char in text:
            await self.call("Input.dispatchKeyEvent", type="keyDown", key=char, text=char)
            await self.call("Input.dispatchKeyEvent", type="keyUp", key=char)

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for(f"location.href === {json.dumps(url)} && "
                            "document.readyState === 'complete'")

    async def close(self) -> None:
        await self._socket.close()
