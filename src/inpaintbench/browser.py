"""The report as a user sees it: rendered by headless Chromium (Debian's `chromium` package).

Snakemake's report is a React page: its front page exists only once its scripts have run, so
reading the HTML file shows what the page holds, not what a reader sees. The test suite checks the
rendered text and bench/report_front_page.py keeps a screenshot, both through this module.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

WINDOW = (1600, 2600)  # wide enough for the headline tables, tall enough for both demo protocols
RENDER_MS = 10000  # virtual time the page's scripts get before the DOM or screenshot is taken


def executable() -> str | None:
    """The Chromium on PATH, or None."""
    return shutil.which("chromium")


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with `args` (e.g. `--dump-dom URL`); a CalledProcessError if it fails."""
    command = [executable() or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--virtual-time-budget={RENDER_MS}", *args]
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
