"""Report text is user input: the PDF renderer must never fetch a URL, whatever the HTML
names (an injected `<img>`, a stylesheet, a font), from the network or the file system."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mss_security.adapters.rendering import _refusing_fetcher

pytest.importorskip("weasyprint")


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that records every path asked of it."""
    asked: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/", "data:,x"]
)
def test_the_fetcher_refuses_every_url(url: str) -> None:
    with pytest.raises(ValueError, match="disabled"):
        _refusing_fetcher().fetch(url)


def test_html_naming_remote_and_local_resources_renders_without_fetching_any(
    listener: tuple[str, list[str]],
) -> None:
    from weasyprint import HTML

    base, asked = listener
    html = (
        f'<html><head><link rel="stylesheet" href="{base}/style.css">'
        f"<style>@import url('{base}/import.css'); "
        f"@font-face {{ font-family: X; src: url('{base}/font.woff'); }}"
        f"body {{ background: url('{base}/bg.png'); }}</style></head>"
        f'<body><p>summary</p><img src="{base}/pixel.png"><img src="file:///etc/passwd">'
        "</body></html>"
    )
    content = HTML(string=html, url_fetcher=_refusing_fetcher()).write_pdf()
    assert isinstance(content, bytes)
    assert content.startswith(b"%PDF")
    assert asked == []
