"""The report as a user sees it: rendered by headless Chromium (Debian's `chromium` package).

Snakemake's report is a React page: its front page exists only once its scripts have run, so
reading the HTML file shows what the page holds, not what a reader sees. The test suite checks the
rendered text and what the first screen shows, and bench/report_front_page.py keeps a screenshot,
all through this module.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

WINDOW = (1600, 2600)  # wide enough for the headline tables, tall enough for both demo protocols
FIRST_SCREEN = (1400, 900)  # a laptop's browser window: what a reader sees on opening, before any scroll
RENDER_MS = 10000  # virtual time the page's scripts get before the DOM or screenshot is taken
# Run in the page once its scripts have rendered it: where the first element matching each selector
# lies in the window ([top, bottom] in px, null if none), and how far anything is scrolled.
MEASURE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const boxes = {};
  for (const [name, selector] of Object.entries(%s)) {
    const box = document.querySelector(selector)?.getBoundingClientRect();
    boxes[name] = box ? [box.top, box.bottom] : null;
  }
  const scrolled = [document.scrollingElement, ...document.querySelectorAll("*")].map(el => el.scrollTop);
  boxes.scrolled = Math.max(...scrolled);
  document.documentElement.setAttribute("data-ib-view", JSON.stringify(boxes));
}, %d));
</script>"""


def executable() -> str | None:
    """The Chromium on PATH, or None."""
    return shutil.which("chromium")


def chromium(*args: str, window: tuple[int, int] = WINDOW) -> subprocess.CompletedProcess:
    """Headless Chromium with `args` (e.g. `--dump-dom URL`); a CalledProcessError if it fails."""
    command = [executable() or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--window-size={window[0]},{window[1]}", f"--virtual-time-budget={RENDER_MS}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)


def visible(dom: str) -> tuple[str, str]:
    """(the rendered DOM without scripts and styles, its visible text: tags removed, entities decoded,
    whitespace collapsed, so a table row reads as its cells separated by single spaces)."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return dom, re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom)))


def render(page: str | Path) -> tuple[str, str]:
    """(DOM, visible text) of the HTML file `page` once Chromium has run its scripts."""
    return visible(chromium("--dump-dom", Path(page).resolve().as_uri()).stdout)


def screenshot(page: str | Path, png: str | Path) -> None:
    """A PNG of the window as a user first sees the HTML file `page`."""
    chromium(f"--screenshot={png}", Path(page).resolve().as_uri())


def first_screen(page: str | Path, selectors: dict[str, str]) -> dict:
    """Where, in a FIRST_SCREEN window just opened on the HTML file `page`, the first element matching
    each selector lies ({name: [top, bottom] px, or None}), and "scrolled": the largest scrollTop of
    any element (0 when the page opens at its top). Measured by a script added to a copy of the page."""
    text = Path(page).read_text()
    at = text.rindex("</body>")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "page.html"
        copy.write_text(text[:at] + MEASURE % (json.dumps(selectors), RENDER_MS // 2) + text[at:])
        dom = chromium("--dump-dom", copy.as_uri(), window=FIRST_SCREEN).stdout
    found = re.search(r'data-ib-view="([^"]*)"', dom)
    if found is None:
        raise RuntimeError(f"{page}: the page did not finish rendering within {RENDER_MS} ms")
    return json.loads(html.unescape(found.group(1)))
