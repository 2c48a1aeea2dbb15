"""The README quotes the recorded benchmarks: the demo's table and time are those of
bench/results/demo_run.json (rewritten by `python bench/demo_run.py --readme`), the input pipeline's
figures those of bench/results/train_throughput.json."""

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


def test_the_readme_quotes_the_recorded_input_pipeline_figures():
    """The shard format's paragraph and the benchmark table quote bench/results/train_throughput.json:
    each encoding's bytes, its cost to the fastest model's step, its images/s alone and its CPU time per image."""
    record = json.loads((ROOT / "bench/results/train_throughput.json").read_text())
    readme = (ROOT / "README.md").read_text()
    paragraph = readme[readme.index("**Shard format.**"):readme.index("**Masks** (see")]
    table_row = next(line for line in readme.splitlines() if line.startswith("| `python bench/train_throughput.py`"))
    sizes = {size["image_size"]: size for size in record["sizes"]}
    quoted = [f"load average {record['load_average_1min']:.1f}",
              f"`{sizes[128]['fastest_model']}`, {sizes[128]['fastest_model_images_per_s']:.0f} images/s"]
    for size in sizes.values():
        for encoding in ("png", "jpeg"):  # tfrecords.ENCODINGS, without starting TensorFlow
            figures = size[encoding]
            quoted += [f"{figures['bytes_over_raw']:.2f}", f"{100 * figures['fastest_model_pipeline_cost']:.1f}%",
                       f"{figures['pipeline_alone_images_per_s']:,.0f} images/s",
                       f"{figures['cpu_us_per_image']['full']:,.0f} µs"]
    assert [text for text in quoted if text not in paragraph] == []
    assert [text for text in quoted[2:] if "images/s" not in text and text not in table_row] == []
