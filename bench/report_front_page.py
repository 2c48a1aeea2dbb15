"""Benchmark: the report's front page as a user sees it, rendered by headless Chromium.

Builds the report of a completed run (`snakemake --report`), has Debian's `chromium` render it
(inpaintbench.browser: the report is a React page, its front page exists only once its scripts
have run), and writes a screenshot of what a user sees first (bench/results/report_front_page.png)
and a JSON with what the rendered page's text holds: each protocol's verdict, each method's hole
PSNR as the comparison table has it, the embedded grids. The test suite checks the rendered text of
its tiny run's report (tests/test_workflow.py); this keeps the picture and the figures of a run.

    python bench/report_front_page.py --workdir . --configfile config/demo.yaml
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from inpaintbench import browser, provenance
from inpaintbench.config import load_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCREENSHOT = RESULTS / "report_front_page.png"
RESULT = RESULTS / "report_front_page.json"


def checks(text: str, dom: str, table: pd.DataFrame) -> dict:
    """What the rendered front page shows: every protocol's verdict, every method's hole PSNR, the grids."""
    expected = [f"{row['hole_psnr']:.2f} [{row['hole_psnr_ci_low']:.2f}, {row['hole_psnr_ci_high']:.2f}]"
                for _, row in table.iterrows()]
    protocols = list(dict.fromkeys(table["protocol"]))
    return {"protocols": protocols,
            "verdicts_shown": [p for p in protocols if re.search(rf"{p} masks GAN against diffusion: ", text)],
            "hole_psnr_cells_expected": len(expected), "hole_psnr_cells_shown": sum(v in text for v in expected),
            "grids_embedded": dom.count("data:image/png;base64,"), "caveat_shown": "Caveat: only" in text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT, help="a folder holding a completed run")
    parser.add_argument("--configfile", default="config/demo.yaml", help="the run's config, relative to workdir")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    report = workdir / "results" / "report.html"
    load = {"before": round(os.getloadavg()[0], 2)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--configfile", args.configfile, "--report", str(report)],
                   cwd=workdir, check=True, capture_output=True, text=True)
    report_seconds = time.perf_counter() - start
    RESULTS.mkdir(parents=True, exist_ok=True)
    with provenance.atomic_path(SCREENSHOT) as tmp:
        browser.screenshot(report, tmp)
    dom, text = browser.render(report)
    load["after"] = round(os.getloadavg()[0], 2)
    table = pd.read_csv(workdir / "results" / "tables" / "comparison.csv", keep_default_na=False, na_values=[""])
    shown = checks(text, dom, table)
    version = browser.chromium("--version").stdout.strip()
    record = provenance.record(load_config(workdir / args.configfile), benchmark="report_front_page",
                               report_seconds=round(report_seconds, 1), chromium=version, window=list(browser.WINDOW),
                               screenshot=str(SCREENSHOT.relative_to(ROOT)), load_average=load, **shown)
    provenance.write_json(RESULT, record)
    print(f"report built in {report_seconds:.1f} s; {version}; verdicts shown for {shown['verdicts_shown']} of "
          f"{shown['protocols']}; hole PSNR cells shown {shown['hole_psnr_cells_shown']}/"
          f"{shown['hole_psnr_cells_expected']}; grids embedded {shown['grids_embedded']}; load "
          f"{load['before']} -> {load['after']} -> {SCREENSHOT}, {RESULT}")


if __name__ == "__main__":
    main()
