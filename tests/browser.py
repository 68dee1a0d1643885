"""Headless Chromium for the tests that check what a page renders (Swagger UI, ReDoc, Dagster's launchpad).

Chromium comes from Debian's packages (``apt-get install chromium``; ``.ci/run`` installs it). A missing browser
fails the test that needs it, naming the package: it is never a skip, so CI cannot pass without looking.

Each page is loaded twice by a fresh browser profile: once to dump the DOM after the page's scripts ran
(``--virtual-time-budget`` lets timers and fetches settle in virtual time), once to save a PNG screenshot. The
network is closed apart from loopback: every request for another host goes to a proxy that is not there and every
host name fails to resolve, so a page that needs a CDN renders without it here exactly as it would offline.
Screenshots go to the test's tmp dir, and are copied to ``$HFIT_SCREENSHOT_DIR`` when set (CI keeps them).

A page that must be clicked before it shows what a test checks is driven through the DevTools protocol
(``DevToolsPage``: the same browser and flags, one page, JavaScript evaluated in it, screenshots of it).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websocket

from hfit_dagster.jit import compiled

SCREENSHOT_DIR_ENV = "HFIT_SCREENSHOT_DIR"
# what this machine kind needs to run Chromium headless as root in a container, without calling home
BASE_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
)
# loopback is exempt from a proxy (Chromium's implicit <-loopback> bypass); everything else goes nowhere
CLOSED_NETWORK_FLAGS = (
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
RUN_TIMEOUT_SECONDS = 60


def chromium() -> str:
    """The Chromium executable; a test that needs it fails (not skips) when it is missing."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is not installed: apt-get install -y chromium (.ci/run installs it when "
                "missing)", pytrace=False)


def _stop_group(process: subprocess.Popen[Any]) -> None:
    """Stop a browser started in a session of its own, with every process it started."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def run_chromium(url: str, *flags: str, closed_network: bool = True) -> str:
    """Run Chromium once on ``url`` with a throwaway profile and ``flags``; its stdout. ``closed_network=False``
    only for the test that proves the closure works."""
    network = CLOSED_NETWORK_FLAGS if closed_network else ()
    with tempfile.TemporaryDirectory(prefix="hfit-chromium-") as profile:
        command = [chromium(), *BASE_FLAGS, *network, f"--user-data-dir={profile}", *flags, url]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "HOME": profile}, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            pytest.fail(f"chromium did not finish {url} in {RUN_TIMEOUT_SECONDS} s", pytrace=False)
    if process.returncode != 0:
        pytest.fail(f"chromium failed on {url} (exit {process.returncode}):\n{stderr[-3000:]}", pytrace=False)
    return stdout


@dataclass(frozen=True)
class RenderedPage:
    url: str
    dom: str
    screenshot: Path


def render(url: str, folder: Path, name: str, *, budget_ms: int = 10_000,
           window: tuple[int, int] = (1280, 1600)) -> RenderedPage:
    """The DOM of ``url`` once its scripts have run, and a screenshot of it at ``folder/<name>.png``."""
    timing = f"--virtual-time-budget={budget_ms}"
    dom = run_chromium(url, timing, "--dump-dom")
    png = folder / f"{name}.png"
    run_chromium(url, timing, f"--window-size={window[0]},{window[1]}", f"--screenshot={png}")
    if not png.is_file():
        pytest.fail(f"chromium wrote no screenshot of {url}", pytrace=False)
    _keep(png)
    return RenderedPage(url=url, dom=dom, screenshot=png)


def _keep(png: Path) -> None:
    """A copy of the screenshot in ``$HFIT_SCREENSHOT_DIR`` when set (CI keeps that folder as artifacts)."""
    keep = os.environ.get(SCREENSHOT_DIR_ENV)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)


# --- reading the rendered DOM ---------------------------------------------------------------------------------

@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class _Collector(HTMLParser):
    """Every element with its attributes and the text inside it (nested text included), and the page's visible
    text (outside scripts, styles and templates)."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                      "track", "wbr"})
    HIDDEN = frozenset({"script", "style", "template", "noscript", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.visible: list[str] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {key: value or "" for key, value in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data
        if not any(element.tag in self.HIDDEN for element in self._open):
            self.visible.append(data)


@dataclass(frozen=True)
class Dom:
    """A dumped DOM, parsed: its elements in document order and its visible text (whitespace collapsed)."""

    elements: list[Element]
    text: str

    def with_class(self, name: str) -> list[Element]:
        return [element for element in self.elements if name in element.classes]

    def by_tag(self, tag: str) -> list[Element]:
        return [element for element in self.elements if element.tag == tag]


def parse_dom(dom: str) -> Dom:
    collector = _Collector()
    collector.feed(dom)
    collector.close()
    return Dom(collector.elements, " ".join(" ".join(collector.visible).split()))


# --- reading the screenshot --------------------------------------------------------------------------------------

@compiled
def _unfilter(data: np.ndarray, height: int, stride: int, bpp: int) -> np.ndarray:  # pragma: no cover - compiled
    """PNG scanlines without their filters (None, Sub, Up, Average, Paeth), one row of ``stride`` bytes each."""
    out = np.zeros((height, stride), np.uint8)
    pos = 0
    for row in range(height):
        kind = data[pos]
        pos += 1
        for i in range(stride):
            x = np.int32(data[pos + i])
            a = np.int32(out[row, i - bpp]) if i >= bpp else np.int32(0)
            b = np.int32(out[row - 1, i]) if row > 0 else np.int32(0)
            c = np.int32(out[row - 1, i - bpp]) if row > 0 and i >= bpp else np.int32(0)
            if kind == 0:
                value = x
            elif kind == 1:
                value = x + a
            elif kind == 2:
                value = x + b
            elif kind == 3:
                value = x + (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                value = x + (a if pa <= pb and pa <= pc else (b if pb <= pc else c))
            out[row, i] = value & 0xFF
        pos += stride
    return out


def png_pixels(path: Path) -> np.ndarray:
    """The pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) as ``(height, width, n)``."""
    blob = path.read_bytes()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"{path} is not a PNG")
    pos, header, payload = 8, b"", bytearray()
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos:pos + 4])
        kind, body = blob[pos + 4:pos + 8], blob[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            payload += body
    width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", header)
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise AssertionError(f"{path}: PNG kind (depth {depth}, colour type {colour}, interlace {interlace}) "
                             "is not one this reader knows")
    data = np.frombuffer(zlib.decompress(bytes(payload)), np.uint8)
    rows = _unfilter(data, height, width * channels, channels)
    return rows.reshape(height, width, channels)


@dataclass(frozen=True)
class PixelSummary:
    colours: int            # distinct colours
    background_share: float  # share of the pixels in the most common colour


def summarize(path: Path) -> PixelSummary:
    pixels = png_pixels(path)[:, :, :3]
    packed = (pixels[:, :, 0].astype(np.uint32) << 16) | (pixels[:, :, 1].astype(np.uint32) << 8) | pixels[:, :, 2]
    _values, counts = np.unique(packed, return_counts=True)
    return PixelSummary(colours=len(counts), background_share=float(counts.max() / packed.size))


def assert_not_blank(path: Path, *, min_colours: int = 64, max_background: float = 0.97) -> PixelSummary:
    """The screenshot shows something: many colours (text is anti-aliased) and not one colour nearly everywhere."""
    summary = summarize(path)
    assert summary.colours >= min_colours and summary.background_share <= max_background, (path, summary)
    return summary


# --- driving a page (clicks, the editor's cursor) through the DevTools protocol ---------------------------------

class DevToolsPage:
    """One headless Chromium page driven over the DevTools protocol, for pages that need a click before they show
    what a test checks (Dagster's launchpad). Same flags and closed network as ``render``; use as a context
    manager (the browser is stopped on exit)."""

    def __init__(self, window: tuple[int, int] = (1600, 1000)) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="hfit-chromium-")
        command = [chromium(), *BASE_FLAGS, *CLOSED_NETWORK_FLAGS, f"--user-data-dir={self._profile.name}",
                   "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                   f"--window-size={window[0]},{window[1]}", "about:blank"]
        self._log = Path(self._profile.name) / "chromium.log"
        with self._log.open("wb") as log:  # a file, not a pipe: Chromium logs for as long as it runs
            self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log,
                                             env={**os.environ, "HOME": self._profile.name},
                                             start_new_session=True)
        self._ids = itertools.count(1)
        try:
            self._socket = websocket.create_connection(self._page_socket_url(), timeout=RUN_TIMEOUT_SECONDS,
                                                       suppress_origin=True)
        except BaseException:
            self.close()
            raise
        self.call("Page.enable")

    def _page_socket_url(self) -> str:
        """The DevTools address of the page: Chromium writes its port to DevToolsActivePort once it listens."""
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chromium did not open DevTools:\n{self._log.read_text(errors='replace')[-3000:]}",
                            pytrace=False)
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        return str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are dropped)."""
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60, what: str = "") -> None:
        """Poll until the expression is truthy in the page; fail with the page's text when it never is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.25)
        text = self.evaluate("document.body ? document.body.innerText : ''") or ""
        pytest.fail(f"page never showed {what or expression} in {timeout:.0f} s; it shows:\n{text[:3000]}",
                    pytrace=False)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def click_button(self, label: str) -> None:
        """Click the first button whose text is ``label``."""
        clicked = self.evaluate(
            "(() => { const b = Array.from(document.querySelectorAll('button'))"
            f".find(b => b.innerText.trim() === {json.dumps(label)}); if (b) b.click(); return !!b; }})()")
        assert clicked, f"no button {label!r} on the page"

    def text(self) -> str:
        """The rendered text of the page (what a reader sees, line by line)."""
        return str(self.evaluate("document.body.innerText"))

    def screenshot(self, folder: Path, name: str) -> Path:
        """A PNG of the viewport at ``folder/<name>.png`` (copied to ``$HFIT_SCREENSHOT_DIR`` when set)."""
        png = folder / f"{name}.png"
        png.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        _keep(png)
        return png

    def close(self) -> None:
        socket = getattr(self, "_socket", None)
        if socket is not None:
            socket.close()
        _stop_group(self._process)
        self._profile.cleanup()

    def __enter__(self) -> DevToolsPage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
