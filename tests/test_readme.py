"""The README quotes the demo's recorded run and nothing else: its table and its time are those of
bench/results/demo_run.json (rewritten by `python bench/demo_run.py --readme`)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys

from conftest import ROOT
from inpaintbench.aggregate import from_markdown


def _demo_run():
    spec = importlib.util.spec_from_file_location("demo_run", ROOT / "bench" / "demo_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_demo_table_is_the_recorded_runs():
    demo_run, readme = _demo_run(), (ROOT / "README.md").read_text()
    record = json.loads(demo_run.RESULT.read_text())
    start, end = (readme.index(marker) for marker in demo_run.README_MARKERS)
    quoted = readme[start + len(demo_run.README_MARKERS[0]):end].strip()
    assert quoted == demo_run.readme_table(record["comparison_markdown"])
    methods = set(record["models"]) | set(record["baselines"])
    protocols = set(record["config"]["evaluation"]["protocols"])
    rows = from_markdown(quoted)[1:]
    assert {(row[0], row[1].strip("`")) for row in rows} == {(p, m) for p in protocols for m in methods}


def test_the_readme_quotes_the_recorded_demo_time():
    demo_run, readme = _demo_run(), (ROOT / "README.md").read_text()
    record = json.loads(demo_run.RESULT.read_text())
    assert f"{record['total_seconds']:.1f} s" in readme
    assert f"{record['total_seconds'] / 60:.0f} min" in readme.split("```bash")[1]  # the install command's comment


def test_the_readme_quotes_how_many_bad_inputs_the_suite_tries():
    """The reliability paragraph's count is the number of test cases marked bad_input (collection only)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "bad_input", "-n", "0",
                             "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, check=False)
    counted = re.search(r"^(\d+)(?:/\d+)? tests? collected", result.stdout, flags=re.MULTILINE)
    assert counted, result.stdout[-2000:] + result.stderr[-2000:]
    cases = int(counted.group(1))
    quoted = re.search(r"\*\*Bad inputs\.\*\* The suite tries (\d+) bad inputs", (ROOT / "README.md").read_text())
    assert quoted and int(quoted.group(1)) == cases, (
        f"README.md, 'Bad inputs.': write 'The suite tries {cases} bad inputs' (pytest collects {cases} "
        f"bad_input cases), not {quoted.group(1) if quoted else 'no count'}")
