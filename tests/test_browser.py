"""The browser helper of the rendering tests (tests/browser.py) sees what it claims: the network really is closed
apart from loopback, screenshots are decoded pixel for pixel, and a blank page is told apart from a drawn one.

Without these, a rendering test could pass on a page that fetched its scripts from the internet, or on a white
screenshot.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from tests.browser import assert_not_blank, parse_dom, png_pixels, run_chromium, summarize

pytestmark = pytest.mark.e2e  # runs Chromium subprocesses


def data_url(html: str) -> str:
    return "data:text/html," + quote(html)


def non_loopback_address() -> str:
    """An address of this machine outside 127.0.0.0/8 (the one its default route leaves from)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.200", 9))  # no packet is sent: this only picks the outgoing address
        except OSError:
            pytest.skip("this machine has no non-loopback IPv4 address to serve the closure check from")
        address = str(probe.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to serve the closure check from")
    return address


@pytest.fixture
def two_origin_server() -> Iterator[tuple[int, str]]:
    """An HTTP server on every interface: its page (read through loopback) loads a script through the
    machine's other address, and the script marks the page."""
    remote = non_loopback_address()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path == "/remote.js":
                body, kind = b"document.body.insertAdjacentHTML('beforeend', '<p id=\"remote\">remote</p>');", \
                    "text/javascript"
            else:
                port = self.server.server_address[1]
                body = (f'<html><body><p id="local">local</p><script src="http://{remote}:{port}/remote.js">'
                        "</script></body></html>").encode()
                kind = "text/html"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("0.0.0.0", 0), Handler)  # noqa: S104 - the check needs a non-loopback origin
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], remote
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_pages_reach_loopback_but_nothing_else(two_origin_server: tuple[int, str]) -> None:
    """A page served on 127.0.0.1 renders, but its script from another address of the same machine is not
    fetched; the same page with the network open does run that script (so the check can fail)."""
    port, _remote = two_origin_server
    url = f"http://127.0.0.1:{port}/"
    closed = parse_dom(run_chromium(url, "--virtual-time-budget=3000", "--dump-dom"))
    opened = parse_dom(run_chromium(url, "--virtual-time-budget=3000", "--dump-dom", closed_network=False))
    assert "local" in closed.text and "remote" not in closed.text
    assert "local" in opened.text and "remote" in opened.text


def test_screenshots_are_decoded_pixel_for_pixel(tmp_path: Path) -> None:
    """Blocks of known colours and a gradient come back at their places from the PNG Chromium writes (its rows
    use every PNG filter, so each one is exercised)."""
    page = data_url(
        '<html><body style="margin:0;background:#fff">'
        '<div style="position:absolute;left:0;top:0;width:100px;height:60px;background:rgb(10,200,30)"></div>'
        '<div style="position:absolute;left:150px;top:100px;width:80px;height:40px;background:rgb(240,16,128)">'
        '</div><div style="position:absolute;left:0;top:200px;width:400px;height:50px;'
        'background:linear-gradient(to right,#000,#00f)"></div></body></html>')
    png = tmp_path / "blocks.png"
    run_chromium(page, "--window-size=400,300", f"--screenshot={png}")
    pixels = png_pixels(png)
    assert pixels.shape[:2] == (300, 400)
    assert pixels[30, 50, :3].tolist() == [10, 200, 30]
    assert pixels[120, 190, :3].tolist() == [240, 16, 128]
    assert pixels[280, 300, :3].tolist() == [255, 255, 255]
    blue = pixels[225, 5:395, 2].astype(int)
    assert blue[0] < 20 and blue[-1] > 235 and np.all(np.diff(blue) >= 0) and len(set(blue.tolist())) > 100


def test_a_blank_or_single_colour_page_is_not_taken_for_a_rendered_one(tmp_path: Path) -> None:
    """The screenshot check rejects a white page and a page of one colour, and accepts a page of text."""
    for name, html in [("white", "<html><body></body></html>"),
                       ("blue", '<html><body style="background:#2050c0"></body></html>')]:
        png = tmp_path / f"{name}.png"
        run_chromium(data_url(html), "--window-size=600,400", f"--screenshot={png}")
        assert summarize(png).colours <= 2, name
        with pytest.raises(AssertionError):
            assert_not_blank(png)
    text = "".join(f'<p style="color:hsl({i * 37 % 360},70%,40%)">Masked fixture package {i}: customers, orders,'
                   " payments</p>" for i in range(14))
    png = tmp_path / "text.png"
    run_chromium(data_url(f'<html><body style="font:16px sans-serif">{text}</body></html>'),
                 "--window-size=600,400", f"--screenshot={png}")
    assert_not_blank(png)
