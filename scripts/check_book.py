"""Open every page of the built book in headless Chromium and check what a reader would see.

Usage: .venv/bin/python scripts/check_book.py [--html _build/html] [--assets .book-assets/node_modules]
                                    [--screenshots _build/screenshots] [--chromium /usr/bin/chromium]
                                    [--only GLOB ...]

First LinkChecker (scripts/linkcheckerrc) follows every internal link, image and #anchor. Then, for every
HTML page (served over a local http server), it checks that:
  * the page loads (HTTP 200) and raises no JavaScript error;
  * every file the page asks the local server for exists (no 404 for a script, style sheet or image);
  * every <img> is decoded (naturalWidth > 0), lazily loaded ones included;
  * all maths is typeset by MathJax (each .math element holds an mjx-container) with no MathJax error;
  * no output cell shows an error or a traceback;
  * every widget output is rendered and visible (embedded widget state), and every frame animation
    (matplotlib ``to_jshtml``) shows its frame;
  * the layout fits the text column (JS_LAYOUT, at a 1280 x 900 window, every <details> opened): no display
    equation, table, line of code or printed output sticks out or hides behind a scroll bar, and no figure
    is shown below MIN_FIGURE_SCALE of its natural width; each offender is reported with its page, section
    and sizes;
  * the local web server met no error (a browser dropping a connection is not one, and prints nothing);
and saves full-page screenshots of two pages (the introduction and the first notebook). ``--only GLOB ...``
checks some pages only (LinkChecker is then not run), for quick looks while fixing them.

Nothing is fetched from the internet, and nothing is silently skipped. The book loads three scripts from
jsDelivr (MathJax 3 with its fonts, require.js and the widget embedder @jupyter-widgets/html-manager, see
_config.yml); each request is answered from the same npm package installed locally from the npm registry
(``make book-assets``, versions in scripts/book-assets.json). External images listed in STAND_INS (the Colab
badge) are answered with a stand-in image, with the reason printed. Any other request to a non-local address
fails the check, except the ones listed in ALLOWED_EXTERNAL (with the reason): blocked, counted, reported.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import http.server
import json
import mimetypes
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# https://cdn.jsdelivr.net/npm/<package>@<version>/<path> is served from <assets>/<package>/<path> when that
# package is installed there with a matching version (jsDelivr serves npm packages byte for byte).
JSDELIVR = re.compile(r"^https://cdn\.jsdelivr\.net/npm/(?P<pkg>(@[^/@]+/)?[^/@]+)@(?P<ver>[^/]+)/(?P<rest>.*)$")
# matplotlib's to_jshtml animations link Font Awesome (their play/pause icons) from maxcdn; the npm package
# font-awesome holds the same files.
MAXCDN_FA = re.compile(r"^https://maxcdn\.bootstrapcdn\.com/(?P<pkg>font-awesome)/(?P<ver>[^/]+)/(?P<rest>.*)$")

# External images in the pages. The CI machine is offline, so each is replaced by a stand-in of the same type
# (the <img> must still decode); the reason is printed with the report.
STAND_INS = {
    "https://colab.research.google.com/assets/colab-badge.svg": (
        "the Open-in-Colab badge of every notebook's first cell (an image on Colab's site)",
        "image/svg+xml",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="117" height="20"><rect width="117" height="20" '
        b'fill="#555"/><text x="6" y="14" fill="#fff" font-size="11">Open in Colab</text></svg>',
    ),
}

# Requests to these are blocked (the CI machine is offline) without failing the check, because the page does
# not need them to show its content. Empty today; add an entry only with the reason.
ALLOWED_EXTERNAL: dict[str, str] = {
    # "https://example.org/prefix": "reason the page does not need it",
}

# Problems of the upstream widget embedder that the book cannot fix from its side. Each is still printed on
# every run (with its count and the reason), never dropped silently; anything else fails the check.
KNOWN_PROBLEMS: list[tuple[re.Pattern, str]] = [
    (
        re.compile(r"JavaScript error: Cannot read properties of undefined \(reading 'Queue'\)"),
        "@jupyter-widgets/html-manager 1.0.6 typesets Output widgets with the MathJax 2 API (MathJax.Hub.Queue) "
        "but Sphinx 7 loads MathJax 3: the widget and its figure still render (checked above), only LaTeX printed "
        "inside an Output widget would stay untypeset",
    ),
    (
        re.compile(r"HTTP 404 for \S+/@jupyter-widgets/html-manager/dist/[0-9a-f]+\.(woff2?|ttf|eot|svg)$"),
        "html-manager 1.0.6 asks for its Font Awesome icon fonts relative to the page instead of the CDN (also "
        "on the published site); only icons inside widgets are affected, the book's widgets use none",
    ),
]

SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static", "screenshots"}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    """The local server of the book check: silent when the browser drops a connection.

    Chromium closes connections whose response it no longer needs (a page closed while a large image or font
    was still being sent); the standard server prints a traceback for each (BrokenPipeError,
    ConnectionResetError). Those are ignored. Any other error in a request is recorded in ``errors`` (one line
    each), and the check fails with it instead of printing a traceback in a passing run."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.errors: list[str] = []

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):  # BrokenPipe, ConnectionReset, ConnectionAborted
            return
        self.errors.append(f"local web server: {exc.__class__.__name__}: {exc}")


def serve(root: Path) -> tuple[QuietServer, str]:
    handler = functools.partial(QuietHandler, directory=str(root))
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def pages_of(html_root: Path) -> list[Path]:
    pages = []
    for path in sorted(html_root.rglob("*.html")):
        rel = path.relative_to(html_root)
        if rel.parts[0] in SKIP_DIRS:
            continue
        if rel.as_posix() == "index.html" and "http-equiv" in path.read_text(errors="replace")[:2000]:
            continue  # the redirect to the root page, which is checked itself
        pages.append(rel)
    return pages


def version_ok(wanted: str, have: str) -> bool:
    wanted = wanted.lstrip("^~=v")
    return have == wanted or have.startswith(wanted + ".")


class CdnRouter:
    """Serves the CDN scripts from local npm packages; records every other non-local request."""

    def __init__(self, assets: Path, local_origin: str):
        self.assets = assets
        self.local_origin = local_origin
        self.served: dict[str, int] = {}
        self.allowed: dict[str, int] = {}
        self.stand_ins: dict[str, int] = {}
        self.blocked: list[str] = []

    def local_file(self, url: str) -> Path | None:
        bare = url.split("?")[0].split("#")[0]
        m = JSDELIVR.match(bare) or MAXCDN_FA.match(bare)
        if not m:
            return None
        pkg_dir = self.assets / m.group("pkg")
        meta = pkg_dir / "package.json"
        if not meta.exists():
            self.blocked.append(f"{url} ({m.group('pkg')} is not in {self.assets}: add it to scripts/book-assets.json)")
            return None
        have = json.loads(meta.read_text())["version"]
        if not version_ok(m.group("ver"), have):
            self.blocked.append(f"{url} (the book asks for {m.group('pkg')}@{m.group('ver')}, local copy is {have})")
            return None
        path = pkg_dir / m.group("rest")
        return path if path.is_file() else None

    def __call__(self, route):
        url = route.request.url
        if url.startswith(self.local_origin) or url.startswith("data:") or url.startswith("blob:"):
            return route.continue_()
        path = self.local_file(url)
        if path is not None:
            self.served[url] = self.served.get(url, 0) + 1
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return route.fulfill(status=200, body=path.read_bytes(), headers={"Content-Type": ctype})
        if url in STAND_INS:
            self.stand_ins[url] = self.stand_ins.get(url, 0) + 1
            _, ctype, body = STAND_INS[url]
            return route.fulfill(status=200, body=body, headers={"Content-Type": ctype})
        for prefix in ALLOWED_EXTERNAL:
            if url.startswith(prefix):
                self.allowed[prefix] = self.allowed.get(prefix, 0) + 1
                return route.abort()
        if url not in self.blocked:
            self.blocked.append(url)
        return route.abort()


# Runs in the page: make every image load now, then report the ones that did not decode.
JS_IMAGES = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(img => { img.loading = 'eager'; });
  await Promise.all(imgs.map(img => img.decode().catch(() => null)));
  return imgs.filter(img => !(img.complete && img.naturalWidth > 0))
             .map(img => img.currentSrc || img.src || img.outerHTML.slice(0, 120));
}"""

JS_MATH = """async () => {
  const nodes = Array.from(document.querySelectorAll('.math'));
  if (nodes.length === 0) return {count: 0, problems: []};
  const t0 = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise) && Date.now() - t0 < 20000) {
    await new Promise(r => setTimeout(r, 100));
  }
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    return {count: nodes.length, problems: ['MathJax did not load']};
  }
  await MathJax.startup.promise;
  const problems = [];
  nodes.forEach(n => {
    if (!n.querySelector('mjx-container')) problems.push('not typeset: ' + n.textContent.slice(0, 80));
  });
  // a TeX error gives mjx-merror; an undefined macro (MathJax's noundefined extension) gives red text
  document.querySelectorAll('mjx-merror, [data-mjx-error], mjx-container [style*="color: red"]').forEach(e => {
    const where = e.closest('.math') || e;
    problems.push('MathJax error: ' + (e.getAttribute('data-mjx-error') || where.textContent).slice(0, 120));
  });
  return {count: nodes.length, problems: problems};
}"""

JS_ERRORS = """() => {
  const sel = '.cell_output .output.error, .cell_output .output.traceback, .output_error, .cell_output .traceback';
  const bad = Array.from(document.querySelectorAll(sel)).map(e => e.textContent.trim().slice(0, 160));
  document.querySelectorAll('.cell_output').forEach(e => {
    if (e.textContent.includes('Traceback (most recent call last)')) bad.push(e.textContent.trim().slice(0, 160));
  });
  return bad;
}"""

JS_WIDGETS = """async () => {
  const visible = e => !!e && e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().height > 0;
  const views = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'));
  const anims = Array.from(document.querySelectorAll('.animation'));
  const t0 = Date.now();
  const pending = () => views.filter(s => !visible(s.parentElement.querySelector('.jupyter-widgets, .widget-subarea')));
  while (pending().length && Date.now() - t0 < 20000) await new Promise(r => setTimeout(r, 200));
  const problems = pending().map(s => 'widget not rendered: ' + s.textContent.trim().slice(0, 120));
  anims.forEach((a, i) => {
    const img = a.querySelector('img');
    if (!visible(img) || !(img.naturalWidth > 0)) problems.push('animation ' + i + ' shows no frame');
  });
  return {widgets: views.length, animations: anims.length, problems: problems};
}"""


# What a reader sees at the check's viewport (1280 x 900, the book's text column is then about 690 CSS px):
# nothing may stick out of the column or hide behind a scroll bar, and figures may not be shrunk so much
# that their text becomes unreadable. Every <details> (exercise solutions, hidden cells) is opened first,
# because a reader opens them too.
#   (a) display maths: the typeset equation (mjx-math) fits inside its box and the column; neither the
#       mjx-container nor its box scrolls (scrollWidth > clientWidth) or clips it;
#   (b) figures: an <img> in the article is shown at >= MIN_FIGURE_SCALE of its natural width (the figures
#       are drawn at 100 dpi to be shown 1:1, where 10-pt text is about 14 CSS px; below 0.6 it is under
#       8.5 px, too small to read); exceptions only in FIGURE_SCALE_ALLOWED, with the reason;
#   (c) tables: a table is no wider than the column, unless it sits in a deliberate scroll container
#       (class DELIBERATE_SCROLL, styled with a visible scroll bar in book/_static/tinydiff.css); the
#       theme's automatic wrapper (pst-scrollable-table-container) does not count: it hides the last
#       columns behind a scroll bar a reader may not see;
#   (d) code: no line of a code cell or of a printed output is cut off by the column (the notebooks are
#       formatted to 80 columns, `make lint`).
MIN_FIGURE_SCALE = 0.6
# "page path": {"image file name": "reason"}; empty today.
FIGURE_SCALE_ALLOWED: dict[str, dict[str, str]] = {}
DELIBERATE_SCROLL = "tinydiff-scroll"

JS_LAYOUT = """async ([minScale, scrollClass]) => {
  const mj = window.MathJax && MathJax.startup;
  if (mj && mj.promise) await mj.promise;
  const column = document.querySelector('article.bd-article')
    || document.querySelector('main') || document.body;
  column.querySelectorAll('details').forEach(d => { d.open = true; });
  await document.fonts.ready;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const cs = getComputedStyle(column);
  const cr = column.getBoundingClientRect();
  const colLeft = cr.left + parseFloat(cs.paddingLeft);
  const colRight = cr.right - parseFloat(cs.paddingRight);
  const px = v => Math.round(v);
  const shown = e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const where = e => {
    const s = e.closest('section[id]');
    return s ? ' in #' + s.id : '';
  };
  const text = (s, n) => s.replace(/\\s+/g, ' ').trim().slice(0, n);
  const out = {math: 0, figures: 0, tables: 0, code: 0, problems: []};
  const bad = msg => out.problems.push(msg);

  // (a) display maths
  const tex = new Map();
  for (const item of (mj && mj.document ? mj.document.math : [])) {
    if (item.typesetRoot) tex.set(item.typesetRoot, item.math);
  }
  const displays = Array.from(column.querySelectorAll('mjx-container[display="true"]'));
  displays.forEach((c, i) => {
    if (!shown(c)) return;
    out.math++;
    const m = c.querySelector('mjx-math') || c;
    const box = c.parentElement;
    const mr = m.getBoundingClientRect(), br = box.getBoundingClientRect();
    const right = Math.min(br.left + box.clientWidth, colRight);
    const left = Math.max(br.left, colLeft);
    const how = [];
    const over = Math.max(mr.right - right, left - mr.left);
    if (over > 1) how.push(`sticks out by ${px(over)} px`);
    if (c.scrollWidth > c.clientWidth + 1) {
      how.push(`its mjx-container scrolls (${c.scrollWidth} > ${c.clientWidth} px)`);
    }
    if (box.scrollWidth > box.clientWidth + 1) {
      const tag = `<${box.tagName.toLowerCase()} class="${box.className}">`;
      how.push(`its box ${tag} clips or scrolls it (${box.scrollWidth} > ${box.clientWidth} px)`);
    }
    if (!how.length) return;
    const src = text(tex.get(c) || c.textContent, 70);
    bad(`display equation ${i + 1}/${displays.length}${where(c)} "${src}": ${px(mr.width)} px `
        + `wide in a ${px(right - left)} px column; ${how.join('; ')}`);
  });

  // (b) figures
  column.querySelectorAll('img').forEach(img => {
    if (!shown(img) || !(img.naturalWidth > 0)) return;
    if (img.closest('.animation')) return;  // to_jshtml frames: sized by the player
    out.figures++;
    const w = img.getBoundingClientRect().width;
    const scale = w / img.naturalWidth;
    const src = img.currentSrc || img.src;
    const file = src.startsWith('data:') ? 'embedded image (data: URI, widget output)'
                                         : src.split('/').pop();
    if (scale >= minScale) return;
    bad(`figure ${file}${where(img)} is shown at ${px(w)} of its ${img.naturalWidth} px `
        + `(scale ${scale.toFixed(2)} < ${minScale}): its text is too small to read`);
  });

  // (c) tables
  column.querySelectorAll('table').forEach(t => {
    if (!shown(t)) return;
    out.tables++;
    const tr = t.getBoundingClientRect();
    const tw = Math.max(tr.width, t.scrollWidth);
    const room = colRight - Math.max(tr.left, colLeft);
    if (tw <= room + 1 || t.closest('.' + scrollClass)) return;
    const head = t.querySelector('tr');
    const name = head ? '"' + text(head.textContent, 60) + '"' : 'no rows';
    bad(`table${where(t)} (${name}) is ${px(tw)} px wide in a ${px(room)} px column: `
        + 'its last columns are hidden behind a scroll bar');
  });

  // (d) code cells and printed outputs
  column.querySelectorAll('pre').forEach(pre => {
    if (!shown(pre)) return;
    out.code++;
    if (pre.scrollWidth <= pre.clientWidth + 1) return;
    const kind = pre.closest('.cell_output') ? 'printed output'
      : (pre.closest('.cell_input') ? 'code cell' : 'code block');
    const lines = pre.textContent.split('\\n');
    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
    bad(`${kind}${where(pre)} is cut off: ${pre.scrollWidth} px of text in a ${pre.clientWidth} px `
        + `box (longest line, ${longest.length} characters: "${text(longest, 60)}")`);
  });
  return out;
}"""


def run_linkchecker(origin: str) -> int:
    """LinkChecker over the local server: every internal link, image and #anchor must resolve.

    Over http rather than file://, because LinkChecker run as root drops to user `nobody`, who may not be
    allowed to read the checkout. External links are not followed (offline)."""
    exe = Path(sys.executable).with_name("linkchecker")
    config = Path(__file__).with_name("linkcheckerrc")
    cmd = [str(exe), "-f", str(config), f"{origin}/index.html"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    summary = [line for line in result.stdout.splitlines() if "links in" in line or "found" in line]
    if result.returncode != 0:
        print(result.stdout[-6000:])
        print(result.stderr[-2000:])
        print("check_book: FAIL linkchecker (broken internal link, image or anchor above)")
    else:
        print(f"check_book: ok   linkchecker: {' '.join(summary).strip()}")
    return result.returncode


def check(html_root: Path, assets: Path, shots: Path, chromium: str, only: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    pages = pages_of(html_root)
    if only:  # a quick look at some pages while fixing them; `make check-book` always checks every page
        pages = [p for p in pages if any(fnmatch.fnmatch(p.as_posix(), pattern) for pattern in only)]
        print(f"check_book: only {len(pages)} page(s) matching {' '.join(only)}; LinkChecker not run")
    if not pages:
        print(f"check_book: no pages under {html_root}; build the book first (make book)")
        return 1
    server, origin = serve(html_root)
    router = CdnRouter(assets, origin)
    failures: list[str] = []
    if not only and run_linkchecker(origin) != 0:
        failures.append("linkchecker found broken internal links, images or anchors (see above)")
    known: dict[str, int] = {}
    totals = {"images": 0, "math": 0, "widgets": 0, "animations": 0}
    layout_totals = {"math": 0, "figures": 0, "tables": 0, "code": 0}
    notebooks = [p for p in pages if p.parts[0] == "notebooks"]
    screenshot_pages = [p for p in pages if p.as_posix() == "book/intro.html"] + (notebooks[:1] or pages[1:2])
    shots.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", router)
        for rel in pages:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(f"JavaScript error: {exc}"))
            page.on(
                "response",
                lambda r, errors=errors: (
                    errors.append(f"HTTP {r.status} for {r.url}")
                    if r.url.startswith(origin) and r.status >= 400
                    else None
                ),
            )
            started = time.monotonic()
            url = f"{origin}/{rel.as_posix()}"
            response = page.goto(url, wait_until="load", timeout=60_000)
            if response is None or response.status != 200:
                errors.append(f"page did not load (status {response.status if response else None})")
            broken = page.evaluate(JS_IMAGES)
            errors += [f"image not decoded: {src}" for src in broken]
            totals["images"] += page.evaluate("document.images.length")
            math = page.evaluate(JS_MATH)
            totals["math"] += math["count"]
            errors += math["problems"]
            errors += [f"error output: {text}" for text in page.evaluate(JS_ERRORS)]
            widgets = page.evaluate(JS_WIDGETS)
            totals["widgets"] += widgets["widgets"]
            totals["animations"] += widgets["animations"]
            errors += widgets["problems"]
            layout = page.evaluate(JS_LAYOUT, [MIN_FIGURE_SCALE, DELIBERATE_SCROLL])
            for key in ("math", "figures", "tables", "code"):
                layout_totals[key] += layout[key]
            allowed = FIGURE_SCALE_ALLOWED.get(rel.as_posix(), {})
            for problem in layout["problems"]:
                file = next((f for f in allowed if problem.startswith(f"figure {f}")), None)
                if file is None:
                    errors.append(problem)
                else:
                    print(f"check_book: allowed small figure on {rel.as_posix()}: {file} -- {allowed[file]}")
            if rel in screenshot_pages:
                out = shots / (rel.as_posix().replace("/", "_").removesuffix(".html") + ".png")
                page.screenshot(path=str(out), full_page=True)
                print(f"check_book: screenshot {out}")
            for problem in list(errors):
                for pattern, _ in KNOWN_PROBLEMS:
                    if pattern.search(problem):
                        known[pattern.pattern] = known.get(pattern.pattern, 0) + 1
                        errors.remove(problem)
                        break
            status = "ok" if not errors else "FAIL"
            took = time.monotonic() - started
            print(
                f"check_book: {status:4} {rel.as_posix()}  "
                f"(math {math['count']}, widgets {widgets['widgets']}, {took:.1f} s)"
            )
            failures += [f"{rel.as_posix()}: {e}" for e in errors]
            page.close()
        browser.close()
    server.shutdown()

    for url, n in sorted(router.served.items()):
        print(f"check_book: served locally instead of the CDN ({n}x): {url}")
    for pattern, reason in KNOWN_PROBLEMS:
        if pattern.pattern in known:
            print(f"check_book: known upstream problem ({known[pattern.pattern]}x), not failed: {reason}")
    for url, n in sorted(router.stand_ins.items()):
        print(f"check_book: stand-in image served ({n}x): {url} -- {STAND_INS[url][0]}")
    for prefix, n in sorted(router.allowed.items()):
        print(f"check_book: blocked, allowed ({n}x): {prefix} -- {ALLOWED_EXTERNAL[prefix]}")
    failures += [f"request to a non-local address (not served locally, not allowed): {u}" for u in router.blocked]
    failures += server.errors
    print(
        f"check_book: {len(pages)} pages, {totals['images']} images, {totals['math']} maths elements, "
        f"{totals['widgets']} widgets, {totals['animations']} animations"
    )
    print(
        f"check_book: layout at 1280 px: {layout_totals['math']} display equations, {layout_totals['figures']} "
        f"figures, {layout_totals['tables']} tables, {layout_totals['code']} code blocks measured against the column"
    )
    if failures:
        print(f"check_book: {len(failures)} problem(s):")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("check_book: all pages OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=Path("_build/html"))
    parser.add_argument("--assets", type=Path, default=Path(".book-assets/node_modules"))
    parser.add_argument("--screenshots", type=Path, default=Path("_build/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--only", nargs="+", metavar="GLOB", help="check only these pages (e.g. 'book/*')")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"check_book: {args.chromium} not found (Debian: apt-get install -y chromium)")
        return 1
    return check(args.html, args.assets, args.screenshots, args.chromium, args.only)


if __name__ == "__main__":
    sys.exit(main())
