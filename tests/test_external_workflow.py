"""External methods inside the workflow (config `external`): the tiny config's test set exported, filled with
biharmonic file by file as another project would fill it, declared external and run through the whole workflow
beside our own biharmonic (no model: nothing to train). Its table row is the internal one's, `inpaintbench score`
gives its per-image numbers, and only an edit of its files reruns its evaluations and what reads them."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from conftest import TINY_CONFIG, copy_workflow, snakemake
from inpaintbench import cli
from inpaintbench.config import ConfigError, validate_config
from inpaintbench.inpaint import inpaint_file
from test_reruns import as_set, job, planned_jobs

PROTOCOLS = ("square", "lama_thick")
EXTERNAL = "their_biharmonic"
PATTERN = "predictions/{protocol}"
# Every method is scored on the 8-bit image it delivers, ours included: the external row equals ours to 1e-6.
TOLERANCE = {"psnr": 1e-6, "hole_psnr": 1e-6, "ssim": 1e-6, "hole_ssim": 1e-6, "l1": 1e-6,
            "hole_l1": 1e-6, "sharpness": 1e-6}


def _config(**external) -> dict:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"] = {}
    config["evaluation"]["baselines"] = ["biharmonic"]
    config["evaluation"]["protocols"] = list(PROTOCOLS)
    if external:
        config["external"] = external
    return config


def _entry(**changes) -> dict:
    return {"predictions": PATTERN, "family": "classical", "description": "biharmonic, run elsewhere", **changes}


def _write(workdir: Path, name: str, config: dict) -> str:
    (workdir / name).write_text(yaml.safe_dump(config, sort_keys=False))
    return name


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The workflow folder after: the export, biharmonic run on it file by file into predictions/<protocol>/,
    and the whole workflow with that folder declared external."""
    workdir = copy_workflow(tmp_path_factory.mktemp("external"))
    snakemake(workdir, "export", "--cores", "2", "--configfile", _write(workdir, "plain.yaml", _config()))
    for protocol in PROTOCOLS:
        folder = workdir / "results" / "export" / protocol
        for mask in sorted(folder.glob("*_mask.png")):
            stem = mask.name.removesuffix("_mask.png")
            inpaint_file("biharmonic", folder / f"{stem}.png", workdir / "predictions" / protocol / f"{stem}.png",
                         mask_path=mask)
    config = _write(workdir, "external.yaml", _config(**{EXTERNAL: _entry()}))
    result = snakemake(workdir, "--cores", "2", "--configfile", config)
    (workdir / "snakemake.out").write_text(result.stdout + result.stderr)
    return workdir


@pytest.mark.slow
def test_the_external_row_equals_the_internal_row(run):
    table = pd.read_csv(run / "results" / "tables" / "comparison.csv").set_index(["protocol", "method"])
    for protocol in PROTOCOLS:
        ours, theirs = table.loc[(protocol, "biharmonic")], table.loc[(protocol, EXTERNAL)]
        assert theirs["kind"] == "external" and theirs["n"] == ours["n"] == 14
        assert theirs["distribution_status"] == ours["distribution_status"] == "unavailable"
        for metric, bound in TOLERANCE.items():
            assert math.isclose(theirs[metric], ours[metric], abs_tol=bound), (protocol, metric)
        per_image = {method: pd.read_csv(run / "results" / "metrics" / protocol / f"{method}.csv").set_index("id")
                     for method in ("biharmonic", EXTERNAL)}
        assert sorted(per_image[EXTERNAL].index) == sorted(per_image["biharmonic"].index)
        assert (per_image[EXTERNAL]["known_change"] == 0).all()
        for column in ("hole_fraction", "category"):
            assert per_image[EXTERNAL][column].to_dict() == per_image["biharmonic"][column].to_dict()
    pairwise = pd.read_csv(run / "results" / "tables" / "pairwise.csv")
    assert {EXTERNAL, "biharmonic"} <= set(pairwise["method_a"]) | set(pairwise["method_b"])
    saved = sorted(path.name for path in (run / "results" / "inpainted" / "square" / EXTERNAL).iterdir())
    assert saved == sorted(path.name for path in (run / "results" / "inpainted" / "square" / "biharmonic").iterdir())
    assert f"Scored from predictions made elsewhere: {EXTERNAL}." in (run / "results" / "report" /
                                                                     "front_page.html").read_text()


@pytest.mark.slow
def test_score_gives_the_workflow_evaluations_per_image_numbers(run, tmp_path):
    folder = run / "results" / "export" / "lama_thick"
    assert cli.main(["score", "--images", str(folder), "--masks", str(folder), "--predictions",
                     str(run / "predictions" / "lama_thick"), "--out", str(tmp_path), "--weights", "none"]) == 0
    scored = pd.read_csv(tmp_path / "scores.csv").set_index("id").sort_index()
    evaluated = pd.read_csv(run / "results" / "metrics" / "lama_thick" / f"{EXTERNAL}.csv").set_index("id")
    assert len(scored) == 14 and list(scored.columns) == list(evaluated.columns)
    pd.testing.assert_frame_equal(scored, evaluated.sort_index(), rtol=1e-9)  # the order of the tfrecords aside


def _planned(run: Path, config: dict) -> set:
    return as_set(planned_jobs(run, config))


def _downstream(protocol: str) -> set:
    return {job("check_external", protocol=protocol, method=EXTERNAL),
            job("evaluate_external", protocol=protocol, method=EXTERNAL), job("aggregate"), job("front_page"),
            job("comparison_figures", protocol=protocol)}


@pytest.mark.slow
def test_a_prediction_file_edit_reruns_that_evaluation_and_what_reads_it(run):
    config = _config(**{EXTERNAL: _entry()})
    assert _planned(run, config) == set()
    folder = run / "predictions" / "lama_thick"
    first = sorted(folder.iterdir())[0]
    backup = run / "backup.png"
    shutil.copy2(first, backup)
    try:
        os.utime(first)  # newer, the same bytes (Snakemake compares the checksum): no change
        assert _planned(run, config) == set()
        pixels = np.asarray(Image.open(backup)).copy()
        pixels[0, 0] ^= 1
        Image.fromarray(pixels).save(first)  # changed
        assert _planned(run, config) == _downstream("lama_thick")
        first.unlink()  # removed
        assert _planned(run, config) == _downstream("lama_thick")
        shutil.copy2(backup, first)
        shutil.copy2(backup, run / "predictions" / "square" / "extra.png")  # added
        assert _planned(run, config) == _downstream("square")
    finally:
        (run / "predictions" / "square" / "extra.png").unlink(missing_ok=True)
        shutil.copy2(backup, first)
    assert _planned(run, config) == set()


@pytest.mark.slow
@pytest.mark.bad_input
def test_a_missing_prediction_folder_is_one_line(run):
    config = _write(run, "missing.yaml", _config(**{EXTERNAL: _entry(predictions="nowhere/{protocol}")}))
    result = snakemake(run, "-n", "--configfile", config, check=False)
    assert result.returncode != 0
    assert ("inpaintbench: error: missing.yaml: key external.their_biharmonic.predictions: no folder "
            "nowhere/square (the predictions on protocol square)") in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.bad_input
def test_a_missing_prediction_fails_the_check_with_one_line_and_keeps_every_score(run):
    kept = [run / "results" / "tables" / "comparison.csv", run / "results" / "metrics" / "square" / f"{EXTERNAL}.csv"]
    before = [path.read_bytes() for path in kept]
    moved = run / "moved"
    moved.mkdir(exist_ok=True)
    names = sorted(path.name for path in (run / "predictions" / "square").iterdir())[:2]
    for name in names:
        shutil.move(run / "predictions" / "square" / name, moved / name)
    try:
        result = snakemake(run, "--cores", "1", "--configfile", "external.yaml", check=False)
    finally:
        for name in names:
            shutil.move(moved / name, run / "predictions" / "square" / name)
    assert result.returncode != 0
    log = (run / "results" / "logs" / "check" / "square" / f"{EXTERNAL}.log").read_text()
    assert f"predictions/square: 2 of 14 predictions missing: {', '.join(names)}" in log
    assert "Traceback" not in result.stdout + result.stderr
    assert [path.read_bytes() for path in kept] == before


@pytest.mark.bad_input
@pytest.mark.parametrize("name, entry, message", [
    ("biharmonic", _entry(), "key external.biharmonic: the name is taken by a baseline"),
    ("gan", _entry(), "key external.gan: the name is taken by a model"),
    ("lama", _entry(predictions="predictions"), "key external.lama.predictions: 'predictions' must name one folder "
                                                "per protocol with {protocol}"),
    ("lama", _entry(family="transformer"), "key external.lama.family: 'transformer' is not one of"),
    ("la-ma", _entry(), "key external.la-ma: a method name is letters, digits and _"),
])
def test_bad_external_entries_are_one_line_naming_the_key(name, entry, message):
    config = _config(**{name: entry})
    config["models"] = {"gan": yaml.safe_load(TINY_CONFIG.read_text())["models"]["gan"]}
    with pytest.raises(ConfigError) as error:
        validate_config(config, "x.yaml")
    assert message in str(error.value) and "\n" not in str(error.value)
