"""The book builds with warnings as errors, and its pages work in a real (headless) browser.

The browser check serves ``book/_build/html`` on 127.0.0.1 and opens every page in Debian's
Chromium through Selenium; it fails on broken internal links or anchors, images that do not load,
math that MathJax did not render, and any resource fetched from outside the built site (the book
must work on a hub without internet access).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
HTML = BOOK / "_build" / "html"


@pytest.fixture(scope="module")
def built_book():
    if not (BOOK / "_static" / "mathjax" / "tex-mml-chtml.js").exists():
        pytest.fail("MathJax is not in book/_static/mathjax: run scripts/build_book.sh (it fetches it)")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run(
        [str(jb), "build", str(BOOK), "-W", "--keep-going"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"book build failed (warnings are errors):\n{log[-6000:]}"
    # The kernel's own start-up notice ("[IPKernelApp] WARNING | Kernel is running over TCP
    # without encryption") is not a problem of the book; every other warning is.
    warnings = [line for line in log.splitlines() if "WARNING" in line and "[IPKernelApp]" not in line]
    assert not warnings, "\n".join(warnings[:30])
    return HTML


def test_book_builds_and_has_every_toc_page(built_book):
    for page in ["index.html", "intro.html", "chapters/01_composition.html",
                 "notebooks/01_composition.html", "api/composition.html", "instructors.html"]:
        assert (built_book / page).is_file(), page
    # the API reference really documents the functions (rendered by autodoc, not shown as text)
    api = (built_book / "api" / "composition.html").read_text()
    assert 'id="course_lib.composition.composition_features"' in api
    assert 'id="course_lib.data.load_dataset"' in (built_book / "api" / "data.html").read_text()
    assert 'id="course_lib.embeddings.published.load_embedding"' in (
        built_book / "api" / "embeddings.html").read_text()
    for page in built_book.joinpath("api").glob("*.html"):
        text = page.read_text()
        assert ".. py:" not in text and ":func:<code" not in text, f"unrendered reST in {page.name}"


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)


@functools.lru_cache(maxsize=None)
def _ids_of(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.ids)


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_book))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian's chromium and chromium-driver are needed (scripts/run_tests.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900"]:
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    yield drv
    drv.quit()


_PAGE_REPORT = """
const done = arguments[arguments.length - 1];
const finish = () => {
  const imgs = Array.from(document.images)
      .filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.currentSrc || i.src);
  const mathEls = Array.from(document.querySelectorAll('.math'));
  const unrendered = mathEls.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80));
  const mathErrors = Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 80));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  const resources = performance.getEntriesByType('resource').map(r => r.name);
  done({imgs, nMath: mathEls.length, unrendered, mathErrors, links, resources,
        hasMathJax: typeof window.MathJax !== 'undefined'});
};
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(finish, finish);
} else { setTimeout(finish, 500); }
"""


def test_pages_in_headless_browser(server, browser, built_book):
    pages = sorted(p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")
                   if not p.relative_to(built_book).as_posix().startswith(("_static/", "_sources/")))
    assert len(pages) >= 8, pages
    problems: list[str] = []
    n_math = 0
    for page in pages:
        url = urljoin(server, page)
        browser.get(url)
        r = browser.execute_async_script(_PAGE_REPORT)
        n_math += r["nMath"]
        problems += [f"{page}: image did not load: {src}" for src in r["imgs"]]
        problems += [f"{page}: math not rendered: {t!r}" for t in r["unrendered"]]
        problems += [f"{page}: MathJax error: {t!r}" for t in r["mathErrors"]]
        if r["nMath"] and not r["hasMathJax"]:
            problems.append(f"{page}: has math but MathJax did not load")
        problems += [f"{page}: fetched from outside the site: {u}" for u in r["resources"]
                     if not u.startswith(server) and not u.startswith("data:")]
        for link in r["links"]:
            if not link.startswith(server):
                continue  # external links are allowed in text (references); they are not fetched
            target, frag = urldefrag(link)
            path = built_book / unquote(urlparse(target).path).lstrip("/")
            if path.is_dir():
                path = path / "index.html"
            if not path.is_file():
                problems.append(f"{page}: broken link {link}")
            elif frag and path.suffix == ".html" and unquote(frag) not in _ids_of(path):
                problems.append(f"{page}: link to a missing anchor {link}")
    assert n_math > 0, "no math found in the whole book: the math check checked nothing"
    assert not problems, "\n".join(problems[:50])
