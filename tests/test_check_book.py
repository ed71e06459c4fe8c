"""scripts/check_book.py: its local server stays quiet when the browser drops a connection, and its layout
check finds what a reader would see sticking out of the column (run on a small page of known offenders)."""

from __future__ import annotations

import importlib.util
import socket
import struct
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_book", REPO / "scripts" / "check_book.py")
check_book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_book)


def test_a_dropped_connection_prints_no_traceback(tmp_path, capfd):
    (tmp_path / "big.bin").write_bytes(b"x" * 20_000_000)
    server, origin = check_book.serve(tmp_path)
    try:
        port = server.server_address[1]
        for _ in range(3):  # ask for a large file and hang up at once (RST): the server's write fails
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(100)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        time.sleep(1.0)
    finally:
        server.shutdown()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err, err
    assert server.errors == []


def test_any_other_server_error_is_recorded_not_printed(tmp_path, capfd):
    server, _ = check_book.serve(tmp_path)
    try:
        try:
            raise ValueError("a bug in the handler")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 0))
    finally:
        server.shutdown()
    assert server.errors == ["local web server: ValueError: a bug in the handler"]
    assert "Traceback" not in capfd.readouterr().err


PAGE = """<!doctype html><html><head><style>
body { margin: 0; } article.bd-article { width: 600px; padding: 0 20px; font: 16px sans-serif; }
pre { overflow-x: auto; font: 14px monospace; } .pst-scrollable-table-container { overflow-x: auto; }
</style></head><body><article class="bd-article">
<section id="fits"><table><tr><th>a</th><th>b</th></tr></table><pre>short line</pre>
  <img src="small.svg"></section>
<section id="wide-table"><div class="pst-scrollable-table-container"><table style="width: 900px">
  <tr><th>model</th><th>FID</th></tr></table></div></section>
<section id="deliberate"><div class="tinydiff-scroll"><table style="width: 900px"><tr><th>ok</th></tr></table>
  </div></section>
<section id="long-code"><div class="cell_input"><pre>%s</pre></div></section>
<section id="shrunk"><img src="wide.svg" style="width: 300px"></section>
</article></body></html>""" % ("x = 1  # " + "y" * 120)


def svg(width: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="50"><rect width="{width}" height="50"/></svg>'
    )


@pytest.mark.slow
def test_the_layout_check_finds_each_kind_of_offender(tmp_path):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("needs Debian's chromium (make check-book installs it)")
    from playwright.sync_api import sync_playwright

    (tmp_path / "page.html").write_text(PAGE)
    (tmp_path / "small.svg").write_text(svg(200))
    (tmp_path / "wide.svg").write_text(svg(1000))
    server, origin = check_book.serve(tmp_path)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(chromium), headless=True, args=check_book.CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{origin}/page.html")
            args = [check_book.MIN_FIGURE_SCALE, check_book.DELIBERATE_SCROLL]
            result = page.evaluate(check_book.JS_LAYOUT, args)
            browser.close()
    finally:
        server.shutdown()
    problems = result["problems"]
    assert len(problems) == 3, problems
    figure, table, code = problems  # in the order of the check: maths, figures, tables, code
    assert table.startswith("table in #wide-table") and "900 px wide in a 600 px column" in table
    assert code.startswith("code cell in #long-code is cut off") and "129 characters" in code
    assert figure.startswith("figure wide.svg in #shrunk") and "scale 0.30" in figure
    assert (result["tables"], result["figures"], result["code"]) == (3, 2, 2)
