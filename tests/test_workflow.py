"""The whole workflow on the tiny config (two mask protocols): tables, metrics, figures and the HTML report,
read as a file and as headless Chromium renders it."""

from __future__ import annotations

import html
import json
import math
import re
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import TENSORFLOW_NOISE, TINY_CONFIG, snakemake, unavailable
from inpaintbench import browser, features, headline
from inpaintbench.aggregate import DISPLAY, MIN_IMAGES
from inpaintbench.config import enabled_models, load_config

CONFIG = load_config(TINY_CONFIG)
MODELS = enabled_models(CONFIG)
METHODS = MODELS + CONFIG["evaluation"]["baselines"]
PROTOCOLS = CONFIG["evaluation"]["protocols"]
HEADERS = [header for header, _, _ in DISPLAY]


@pytest.fixture(scope="module")
def tables(tiny_run):
    return pd.read_csv(tiny_run / "results/tables/comparison.csv", keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module")
def comparison(tables):
    """The paper's square protocol's rows, by method."""
    return tables[tables["protocol"] == "square"].set_index("method")


def metrics_csv(tiny_run, protocol: str, method: str) -> pd.DataFrame:
    return pd.read_csv(tiny_run / f"results/metrics/{protocol}/{method}.csv")


def test_the_table_has_every_method_under_every_protocol_square_first(tiny_run, tables):
    assert len(PROTOCOLS) == 2 and PROTOCOLS[0] == "square"
    assert list(zip(tables["protocol"], tables["method"])) == [(p, m) for p in PROTOCOLS for m in METHODS]
    for protocol in PROTOCOLS:
        rows = tables[tables["protocol"] == protocol]
        holes = metrics_csv(tiny_run, protocol, "black")
        assert (rows["n"] == len(holes)).all()
        assert (rows["hole_ssim_n"] == holes["hole_ssim"].notna().sum()).all()
    square, free = (metrics_csv(tiny_run, p, "black") for p in PROTOCOLS)
    assert list(square["id"]) == list(free["id"])  # the same test images, other holes
    assert (square["hole_fraction"] != free["hole_fraction"]).mean() > 0.8
    assert free["hole_fraction"].max() <= 0.5 and free["hole_fraction"].std() > square["hole_fraction"].std()


def test_the_table_has_every_method_with_finite_values_in_range(tiny_run, comparison):
    assert MODELS and list(comparison.index) == METHODS
    tests = len(metrics_csv(tiny_run, "square", "black"))
    assert tests > 0 and (comparison["n"] == tests).all()
    for method, row in comparison.iterrows():
        for metric, low, high in (("psnr", 0, 100), ("hole_psnr", 0, 100), ("ssim", -1, 1),
                                  ("hole_ssim", -1, 1), ("l1", 0, 1), ("hole_l1", 0, 1)):
            value = row[metric]
            assert math.isfinite(value) and low <= value <= high, (method, metric, value)
            assert row[f"{metric}_ci_low"] <= value <= row[f"{metric}_ci_high"], (method, metric)
        assert row["inference_ms"] > 0
        if method in MODELS:
            epochs = CONFIG["models"][method]["training"]["epochs"]
            assert row["repair_epochs"] == f"{epochs}/{epochs}"
            assert math.isfinite(row["final_repair_loss"]) and row["parameters"] > 0 and row["training_seconds"] > 0
            assert bool(row["reads_original"]) is CONFIG["models"][method]["paper_exact"]
        else:
            assert pd.isna(row["final_repair_loss"]) and pd.isna(row["parameters"]) and not row["reads_original"]
    paper = comparison[comparison["kind"].isin(["gan_paper", "diffusion_paper"])]
    assert len(paper) and set(paper["paper_psnr"]) <= {10.78, 17.39}
    assert comparison.loc["gan_paper", "paper_ssim"] == 0.46
    assert comparison.loc["black", "psnr"] < comparison.loc["biharmonic", "psnr"]
    families = {"gan_paper": "gan", "gan_paper_exact": "gan", "gan": "gan", "diffusion_paper": "diffusion",
                "diffusion": "diffusion", **dict.fromkeys(CONFIG["evaluation"]["baselines"], "classical")}
    assert comparison["family"].to_dict() == families
    assert (comparison["known_change"] == 0).all() and (comparison["known_psnr"] == math.inf).all()  # ours paste


def test_each_mean_in_the_table_is_the_mean_of_its_per_image_csv(tiny_run, tables):
    for protocol in PROTOCOLS:
        table = tables[tables["protocol"] == protocol].set_index("method")
        for method in METHODS:
            rows = metrics_csv(tiny_run, protocol, method)
            for metric in ("psnr", "ssim", "hole_psnr", "hole_ssim", "l1", "hole_l1"):
                assert table.loc[method, metric] == pytest.approx(rows[metric].mean(), rel=1e-9)  # NaNs left out
            assert table.loc[method, "inference_ms"] == pytest.approx(1000 * rows["seconds"].mean(), rel=1e-6)


def test_markdown_and_latex_tables_list_every_method(tiny_run):
    markdown = (tiny_run / "results/tables/comparison.md").read_text()
    latex = (tiny_run / "results/tables/comparison.tex").read_text()
    for protocol in PROTOCOLS:
        for method in METHODS:
            assert re.search(rf"^\| {protocol} \| {method} \|", markdown, flags=re.M)
            assert f"{protocol} & {method}".replace("_", r"\_") + " &" in latex
    assert "10.78" in markdown and r"\end{tabular}" in latex


def test_pairwise_and_binned_tables_per_protocol(tiny_run):
    pairs = pd.read_csv(tiny_run / "results/tables/pairwise.csv", keep_default_na=False)
    assert {(p, a, b) for p, a, b in zip(pairs["protocol"], pairs["method_a"], pairs["method_b"])} == {
        (p, a, b) for p in PROTOCOLS for a, b in combinations(METHODS, 2)}
    assert pairs["p_value"].between(0, 1).all()
    for _, pair in pairs.iterrows():
        assert pair["mean_difference_db"] == pytest.approx(pair["psnr_a"] - pair["psnr_b"], abs=1e-9)
        assert pair["better"] == (pair["method_a"] if pair["mean_difference_db"] > 0 else pair["method_b"])
    for name in ("by_hole_size", "by_category"):
        table = pd.read_csv(tiny_run / f"results/tables/{name}.csv")
        for protocol in PROTOCOLS:
            rows = table[table["protocol"] == protocol]
            tests = len(metrics_csv(tiny_run, protocol, "black"))
            assert set(rows["method"]) == set(METHODS)
            assert (rows.groupby("method")["n"].sum() == tests).all()  # the demo knows every category
    bins = pd.read_csv(tiny_run / "results/tables/by_hole_size.csv")
    assert set(bins["bin"]) <= {"0-10%", "10-20%", "20-30%", "30-40%", "40-50%"}
    assert np.allclose(bins["hole_fraction_high"] - bins["hole_fraction_low"], 0.1)
    for _, row in bins[bins["method"] == "black"].iterrows():  # each bin holds the images of its hole areas
        holes = metrics_csv(tiny_run, row["protocol"], "black")["hole_fraction"]
        inside = (holes > row["hole_fraction_low"]) & (holes <= row["hole_fraction_high"])
        assert row["n"] == inside.sum() > 0


def test_figures_are_valid_pngs(tiny_run):
    figures = [tiny_run / f"results/figures/{protocol}/{name}.png" for protocol in PROTOCOLS
               for name in ("comparison_grid", "psnr_vs_hole_size")]
    figures += [tiny_run / f"results/figures/{model}/{name}.png" for model in MODELS
                for name in ("snapshots", "training_curves")]
    for path in figures:
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 50, path
            image.verify()
    saved = CONFIG["evaluation"]["save_images"]
    for protocol in PROTOCOLS:
        for method in METHODS:
            assert len(list((tiny_run / f"results/inpainted/{protocol}/{method}").glob("*.png"))) == saved


def test_the_report_builds_with_every_table_and_figure(tiny_report):
    html = tiny_report.read_text()
    # Rendered captions appear only for outputs marked report() (file names alone are also in the rule code).
    captions = ["0.95 bootstrap confidence interval", "Paired Wilcoxon signed-rank tests",
                "the field's bins of the hole's area", "by scene category"]
    captions += [f"inpainted by every method with the {protocol} masks" for protocol in PROTOCOLS]
    captions += [f"area for every method with the {protocol} masks" for protocol in PROTOCOLS]
    captions += [f"Protocol {protocol}" for protocol in PROTOCOLS]  # a report section per protocol
    captions += [f"Figures 3 and 4 for model {model}:" for model in MODELS]
    captions += [f"Training curves of model {model}:" for model in MODELS]
    for caption in captions:
        assert caption in html, caption


def front_page_of(report_html: str) -> str:
    """The HTML of the report's landing page (Snakemake 9 keeps it JSON-encoded in `workflow_desc`)."""
    return json.loads(re.search(r"^\s*var workflow_desc = (.*);\s*$", report_html, flags=re.M).group(1))


def test_the_report_front_page_shows_the_verdict_headline_tables_and_grids(tiny_run, tiny_report):
    page = front_page_of(tiny_report.read_text())
    assert page.count('<table class="ib-headline">') == len(PROTOCOLS)
    assert page.count('<p class="ib-verdict">') == len(PROTOCOLS) and page.count("data:image/png;base64,") == 2
    tables = pd.read_csv(tiny_run / "results/tables/comparison.csv", keep_default_na=False, na_values=[""])
    for protocol in PROTOCOLS:
        section = page.split(f"<h3>{protocol} masks</h3>")[1].split("<h3>")[0]
        verdict = html.unescape(re.search(r'<p class="ib-verdict">(.*?)</p>', section, flags=re.S).group(1))
        assert verdict.startswith("GAN against diffusion: the best method of each family by hole PSNR, ")
        assert headline.BLUR_CAVEAT in verdict  # no weights in the tiny run: hole PSNR decides
        assert re.search(r"On hole PSNR, (gan|diffusion)\w* .* p = ", verdict) and "On hole L1," in verdict
        assert "best classical baseline" in verdict and f"fewer than {MIN_IMAGES}" in verdict
        assert "test images are crops of the same photos it trains on" in verdict  # tiny.yaml's data.source: demo
        for _, row in tables[tables["protocol"] == protocol].iterrows():  # every method's numbers, in the table
            cell = (f"<td>{row['hole_psnr']:.2f} [{row['hole_psnr_ci_low']:.2f}, "
                    f"{row['hole_psnr_ci_high']:.2f}]</td>")
            assert cell in section, (protocol, row["method"])
    first = MODELS[0]  # the run's summary: each model with its kind, parameters and epochs
    epochs = CONFIG["models"][first]["training"]["epochs"]
    assert re.search(rf"Models: {first} \({CONFIG['models'][first]['kind']}, [\d,]+ parameters, {epochs}/{epochs} "
                     r"epochs", html.unescape(page))
    comparison = (tiny_run / "results/tables/comparison.html").read_text()
    assert comparison.count("<tr>") == 1 + len(tables) and "<th>Hole PSNR (dB)</th>" in comparison


def test_chromium_renders_the_report_front_page_with_every_headline_number(tiny_run, tiny_report):
    """What a reader sees, not what the file holds: the report is a React page whose front page exists only
    once its scripts have run. Each protocol's heading, then its headline table's header and every row's
    cells (values with their intervals), in order, in the rendered text."""
    if browser.executable() is None:
        unavailable("Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    dom, text = browser.render(tiny_report)
    assert dom.count("data:image/png;base64,") == len(PROTOCOLS)  # the grids, decoded into the page
    table = headline.read_table(tiny_run / "results/tables/comparison.csv")
    position = 0
    for protocol, rows in table.groupby("protocol", sort=False):
        headers, cells = headline.headline_rows(rows.set_index("method"))
        assert len(cells) == len(METHODS)
        for expected in (f"{protocol} masks", " ".join(headers), *(" ".join(row) for row in cells)):
            found = text.find(expected, position)
            assert found >= 0, (protocol, expected, text[position:position + 3000])
            position = found + len(expected)


def test_the_report_opens_at_its_top_with_the_title_and_the_first_verdict_in_view(tiny_report):
    """In a 1400x900 window just opened, nothing is scrolled and the report's title, what was run and
    the first protocol's verdict lie within the window (they opened about one screen above it)."""
    if browser.executable() is None:
        unavailable("Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    parts = {"title": ".prose p", "answer": ".ib-front h2", "what was run": ".ib-front > p",
             "first verdict": ".ib-verdict"}
    view = browser.first_screen(tiny_report, parts)
    assert view["scrolled"] == 0, view
    for part in parts:
        top, bottom = view[part]
        assert 0 <= top < bottom <= browser.FIRST_SCREEN[1], (part, view)


def test_a_report_of_results_older_than_the_config_warns_in_one_line(tiny_run, tiny_report, tmp_path):
    """The up-to-date run's report warns of nothing; after a model's edit (a dry run plans its jobs,
    test_editing_one_model_reruns_only_its_jobs) the report is still written, with one warning line."""
    assert "inpaintbench: warning" not in (tiny_report.parent / "report.out").read_text()
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["gan"]["hparams"]["channels"] = 12
    (tiny_run / "stale.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(tiny_run, "--configfile", "stale.yaml", "--report", str(tmp_path / "report.html"))
    warnings = [line for line in (result.stdout + result.stderr).splitlines() if "inpaintbench: warning" in line]
    assert warnings == ["inpaintbench: warning: the report describes the last run, not the current config: a run "
                        "would plan 9 jobs (aggregate 1, all 1, comparison_figures 2, evaluate 2, front_page 1, "
                        "model_figures 1, train 1); `snakemake -n` says why"]
    assert (tmp_path / "report.html").stat().st_size > 0


def test_each_models_meta_records_the_resources_its_job_had(tiny_run):
    """Snakemake's threads and resources from tiny.yaml (threads 1, mem_mb 2000, runtime 10, gpus the
    default 1), not the schema's defaults; and the GPUs TensorFlow saw (none on the test machines)."""
    for model in MODELS:
        meta = json.loads((tiny_run / f"results/models/{model}/meta.json").read_text())
        assert meta["config"]["resources"] == {"threads": 1, "mem_mb": 2000, "runtime": 10, "gpus": 1}, model
        assert meta["gpus_seen"] == [], model


def test_editing_one_model_reruns_only_its_jobs(tiny_run):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["gan"]["hparams"]["channels"] = 12
    (tiny_run / "edited.yaml").write_text(yaml.safe_dump(config, sort_keys=False))  # key order is part of params
    plan = snakemake(tiny_run, "-n", "--configfile", "edited.yaml").stdout
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.split("Job stats:")[1].split("Reasons:")[0], flags=re.M))
    assert jobs == {"train": "1", "evaluate": "2", "model_figures": "1", "aggregate": "1",
                    "comparison_figures": "2", "front_page": "1", "all": "1", "total": "9"}
    for protocol in PROTOCOLS:
        assert re.search(rf"rule evaluate:.*?wildcards: protocol={protocol}, method=gan\b", plan, flags=re.S)


def test_no_job_prints_tensorflow_start_up_lines(tiny_run):
    """Not on the terminal (what Snakemake and its jobs printed) and not in any job's log."""
    printed = (tiny_run / "snakemake.out").read_text()
    logs = {path: path.read_text() for path in (tiny_run / "results" / "logs").rglob("*.log")}
    assert len(logs) > 20 and "Finished jobid" in printed
    for where, text in [("terminal", printed), *logs.items()]:
        noise = [line for line in text.splitlines() if any(mark in line for mark in TENSORFLOW_NOISE)]
        assert not noise, (where, noise[:3])


def test_a_test_split_too_small_for_intervals_is_marked_and_warned(tiny_run, comparison):
    """The tiny run has fewer than MIN_IMAGES test images: every row says so, the captions explain it and
    the aggregation log warns per method and protocol."""
    tests = len(pd.read_csv(tiny_run / f"results/metrics/{PROTOCOLS[0]}/black.csv"))
    assert tests < MIN_IMAGES
    assert comparison["few_images"].all() and (comparison["n"] == tests).all()
    pairs = pd.read_csv(tiny_run / "results/tables/pairwise.csv")
    assert pairs["few_images"].all()
    markdown = (tiny_run / "results/tables/comparison.md").read_text()
    latex = (tiny_run / "results/tables/comparison.tex").read_text()
    note = f"Rows marked (few) rest on fewer than {MIN_IMAGES} test images, too few for a meaningful interval or test"
    assert note in markdown and note in latex
    log = (tiny_run / "results/logs/report/aggregate.log").read_text()
    for protocol in PROTOCOLS:
        for method in METHODS:
            assert re.search(rf"^\| {protocol} \| {method} \| \w+ \| (yes|no) \| {tests} \(few\) \|", markdown,
                             flags=re.MULTILINE), (protocol, method)
            assert f"WARNING {method} on {protocol}: {tests} test images, fewer than {MIN_IMAGES}" in log


def test_a_run_without_weights_writes_no_fid_kid_or_ids_value_anywhere(tiny_run, tables):
    """The tiny run has no InceptionV3 weights (tests/configs/tiny.yaml): the real-features job says why in
    one log line, every feature file holds the reason and no features, and every distribution cell of
    every table reads "unavailable" (NaN in the CSV, with the status and reason beside it)."""
    log = (tiny_run / "results/logs/evaluate/real_features.log").read_text().splitlines()
    why = [line for line in log if "FID, KID, P-IDS and U-IDS unavailable: " in line]
    missing = "no-weights/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5: no such file"
    assert len(why) == 1 and missing in why[0]
    reason = why[0].split("unavailable: ", 1)[1]
    files = [tiny_run / "results/features/real.npz",
             *(tiny_run / f"results/metrics/{p}/{m}.features.npz" for p in PROTOCOLS for m in METHODS)]
    for path in files:
        with np.load(path) as data:
            assert set(data.files) == {"ids", "header"} and data["ids"].size == 0, path
        assert features.load_features(path).unavailable == reason
    for protocol in PROTOCOLS:
        for method in METHODS:
            summary = json.loads((tiny_run / f"results/metrics/{protocol}/{method}.json").read_text())
            assert summary["distribution"]["n"] == 0 and summary["distribution"]["unavailable"] == reason
    columns = ["fid", "kid", "kid_sd", "p_ids", "u_ids"]
    assert tables[columns].isna().all().all() and (tables["distribution_status"] == "unavailable").all()
    assert tables["distribution_reason"].str.endswith(reason).all() and (tables["distribution_n"] == 0).all()
    assert tables.set_index("method")["distribution_output"].to_dict()["diffusion"] == "the output"
    markdown = (tiny_run / "results/tables/comparison.md").read_text()
    latex = (tiny_run / "results/tables/comparison.tex").read_text()
    body = [line for line in markdown.splitlines() if line.startswith("| ") and "Protocol" not in line]
    assert len(body) == len(tables)
    for line in body:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[HEADERS.index("FID"):HEADERS.index("U-IDS") + 1] == ["unavailable"] * 4, line
    assert latex.count("unavailable & unavailable & unavailable & unavailable") == len(tables)


def test_the_table_has_the_blur_measure_with_its_interval(tiny_run, tables):
    """Per-image sharpness (metrics.sharpness) in every metrics CSV; its mean and interval in the table."""
    for protocol in PROTOCOLS:
        table = tables[tables["protocol"] == protocol].set_index("method")
        for method in METHODS:
            rows = metrics_csv(tiny_run, protocol, method)
            assert table.loc[method, "sharpness"] == pytest.approx(rows["sharpness"].mean(), rel=1e-9)
            assert table.loc[method, "sharpness_ci_low"] <= table.loc[method, "sharpness"] \
                <= table.loc[method, "sharpness_ci_high"]
        assert table.loc["black", "sharpness"] == 0.0 and table.loc["mean_fill", "sharpness"] == 0.0
        assert 0.0 < table.loc["biharmonic", "sharpness"] < 1.0  # a smooth fill: less detail than the truth
    assert "Sharpness (hole detail / truth)" in (tiny_run / "results/tables/comparison.md").read_text()
