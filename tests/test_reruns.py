"""Incremental reruns: after a completed run, the jobs `snakemake -n` plans for each kind of config edit
(models, mask protocols, figures).

Every rule gets exactly its config slice through `params:`, with every mapping's keys sorted
(inpaintbench.config.canonical), so Snakemake's params trigger reruns what an edit affects and
nothing else, and reordering keys reruns nothing. Each test dry-runs the completed tiny run
(tests/conftest.py) with an edited copy of its config.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from skimage import data as skdata

from conftest import TINY_CONFIG, copy_workflow, snakemake
from inpaintbench import baselines, models
from inpaintbench.config import canonical, enabled_models, load_config
from inpaintbench.data.masks import damage
from inpaintbench.evaluation import evaluate

TARGET_RULES = {"all", "data", "train_all", "evaluate_all"}


def planned_jobs(workdir: Path, config: dict, *extra: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job `snakemake -n` plans with `config`, targets left out."""
    path = workdir / f"edited_{hashlib.md5(yaml.safe_dump(config).encode()).hexdigest()[:10]}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workdir, "-n", "--configfile", str(path), *extra)
    jobs, rule = [], None
    for line in (result.stdout + result.stderr).splitlines():
        start = re.match(r"(?:local)?rule (\w+):$", line)
        if start:
            rule = start.group(1)
            jobs.append((rule, {}))
        elif rule and (wildcards := re.match(r"\s+wildcards: (.*)$", line)):
            jobs[-1] = (rule, dict(pair.split("=", 1) for pair in wildcards.group(1).split(", ")))
        elif not line.startswith(" "):
            rule = None
    return [(rule, wildcards) for rule, wildcards in jobs if rule not in TARGET_RULES]


def as_set(jobs) -> set[tuple[str, tuple]]:
    return {(rule, tuple(sorted(wildcards.items()))) for rule, wildcards in jobs}


def job(rule: str, **wildcards) -> tuple[str, tuple]:
    return rule, tuple(sorted(wildcards.items()))


def tiny_config() -> dict:
    return yaml.safe_load(TINY_CONFIG.read_text())


PROTOCOLS = tiny_config()["evaluation"]["protocols"]
METHODS = enabled_models(load_config(TINY_CONFIG)) + tiny_config()["evaluation"]["baselines"]


def summaries(*protocols: str) -> set[tuple[str, tuple]]:
    """The aggregation, the comparison figures of `protocols` (default: every evaluated one) and the
    report's front page, which reads both."""
    return {job("aggregate"), job("front_page"),
            *(job("comparison_figures", protocol=p) for p in protocols or PROTOCOLS)}


def evaluations(protocols=PROTOCOLS, methods=METHODS) -> set[tuple[str, tuple]]:
    return {job("evaluate", protocol=p, method=m) for p in protocols for m in methods}


@pytest.fixture(scope="module")
def every_job(tiny_run) -> list[tuple[str, dict]]:
    """The whole workflow's jobs on the tiny config."""
    return planned_jobs(tiny_run, tiny_config(), "--forceall")


def test_editing_nothing_plans_nothing(tiny_run):
    assert planned_jobs(tiny_run, tiny_config()) == []


def test_editing_one_model_plans_its_training_evaluations_and_the_summaries(tiny_run):
    config = tiny_config()
    edited = next(iter(config["models"]))
    config["models"][edited]["training"]["seed"] = config["models"][edited]["training"].get("seed", 0) + 1

    assert as_set(planned_jobs(tiny_run, config)) == {
        job("train", model=edited), *evaluations(methods=[edited]), job("model_figures", model=edited),
        *summaries()}


def test_editing_an_evaluated_protocol_plans_only_its_evaluations_and_the_summaries(tiny_run):
    assert "lama_thick" in PROTOCOLS and all(m.get("training", {}).get("masks", "square") != "lama_thick"
                                             for m in tiny_config()["models"].values())
    config = tiny_config()
    config["masks"]["protocols"] = {"lama_thick": {"strokes": {"max_width": 60}}}

    assert as_set(planned_jobs(tiny_run, config)) == {*evaluations(["lama_thick"]), *summaries("lama_thick")}


def test_adding_a_protocol_plans_only_its_evaluations_and_the_summaries(tiny_run):
    config = tiny_config()
    config["masks"]["protocols"] = {"few_boxes": {"generator": "boxes", "margin": 0, "size": [40, 80],
                                                  "times": [1, 2], "max_area": None}}
    config["evaluation"]["protocols"] = [*PROTOCOLS, "few_boxes"]

    assert as_set(planned_jobs(tiny_run, config)) == {*evaluations(["few_boxes"]), job("aggregate"),
                                                      job("front_page"),
                                                      job("comparison_figures", protocol="few_boxes")}


def test_editing_the_protocol_a_model_trains_on_retrains_exactly_that_model(tiny_run):
    trained_on_mixed = [name for name, model in tiny_config()["models"].items()
                        if model["training"].get("masks") == "mixed"]
    assert trained_on_mixed == ["gan"] and "mixed" not in PROTOCOLS
    config = tiny_config()
    config["masks"]["protocols"] = {"mixed": {"boxes": {"weight": 0.5}}}

    assert as_set(planned_jobs(tiny_run, config)) == {
        job("train", model="gan"), *evaluations(methods=["gan"]), job("model_figures", model="gan"), *summaries()}


def test_editing_a_protocol_nobody_uses_or_dropping_one_from_evaluation_plans_little(tiny_run):
    config = tiny_config()
    config["masks"]["protocols"] = {"center": {"side": 0.4}, "lama_thin": {"max_area": 0.4}}
    assert planned_jobs(tiny_run, config) == []

    config = tiny_config()
    config["evaluation"]["protocols"] = ["square"]
    assert as_set(planned_jobs(tiny_run, config)) == {job("aggregate"), job("front_page")}


def test_editing_the_mask_seed_plans_every_model_and_evaluation_but_no_shard(tiny_run, every_job):
    config = tiny_config()
    config["masks"]["seed"] += 1
    jobs = planned_jobs(tiny_run, config)

    upstream = {"fetch_archive", "fetch_categories", "manifest", "shard", "data_summary", "real_features"}
    assert as_set(jobs) == as_set(j for j in every_job if j[0] not in upstream)
    assert sum(rule == "train" for rule, _ in jobs) == len(config["models"])
    assert sum(rule == "evaluate" for rule, _ in jobs) == len(PROTOCOLS) * len(METHODS)


def test_editing_kid_settings_plans_only_the_aggregation(tiny_run):
    """KID's subsets, subset size and seed are read from the saved features: no feature is recomputed."""
    for key in ("kid_subsets", "kid_subset_size", "seed"):
        config = tiny_config()
        config["evaluation"]["distribution"][key] = load_config(TINY_CONFIG)["evaluation"]["distribution"][key] + 1
        assert as_set(planned_jobs(tiny_run, config)) == {job("aggregate"), job("front_page")}, key


def test_editing_the_feature_weights_or_batch_plans_every_feature_and_what_reads_them(tiny_run):
    """The weights (and the batch they run in) make every feature file: the real images' and each
    evaluation's (which is where the inpaintings exist), then the summaries; no training, no data."""
    for key, value in (("weights", "elsewhere/inception_v3.h5"), ("batch_size", 5)):
        config = tiny_config()
        config["evaluation"]["distribution"][key] = value
        assert as_set(planned_jobs(tiny_run, config)) == {job("real_features"), *evaluations(), *summaries()}, key


def test_editing_the_evaluation_batch_plans_every_evaluation_but_not_the_real_features(tiny_run):
    """The real features are read in the network's own batches (evaluation.distribution.batch_size);
    every method's inference time is measured per evaluation batch, and diffusion's seeds go by batch."""
    config = tiny_config()
    config["evaluation"]["batch_size"] = 5
    assert as_set(planned_jobs(tiny_run, config)) == {*evaluations(), *summaries()}


def test_editing_the_evaluation_seed_plans_only_the_models_that_draw_with_it(tiny_run):
    models_config = tiny_config()["models"]
    assert [name for name in models_config if models.reads_seed(models_config[name]["kind"])] == ["diffusion"]
    config = tiny_config()
    config["evaluation"]["seed"] += 1
    assert as_set(planned_jobs(tiny_run, config)) == {*evaluations(methods=["diffusion"]), *summaries()}


def test_a_method_fills_differently_at_another_seed_exactly_when_its_seed_is_in_its_params(tiny_run, batch):
    """What leaves evaluation.seed out of a method's params (rules/common.smk): the tiny run's trained
    models and the baselines fill a batch bit for bit the same at two seeds unless their kind reads it."""
    images, masks = batch
    damaged = damage(images, masks)
    for method in METHODS:
        if method in tiny_config()["models"]:
            inpainter = models.load(tiny_run / "results" / "models" / method)
            reads = models.reads_seed(tiny_config()["models"][method]["kind"])
        else:
            inpainter, reads = baselines.get(method), False
        fills = [inpainter(damaged, masks, original=images, seed=seed) for seed in (0, 1)]
        assert np.array_equal(*fills) is not reads, method


def test_a_model_that_draws_with_the_seed_is_not_evaluated_without_one(tiny_run, tmp_path):
    """The rule leaves the seed out of the params of the methods that do not read it: a model that does
    is never evaluated with a default one in its place."""
    test = sorted((tiny_run / "results" / "data" / "tfrecords").glob("test-*"))
    with pytest.raises(ValueError, match="^diffusion: kind diffusion draws with evaluation.seed, and none was given$"):
        evaluate("diffusion", test, 32, {"batch_size": 8, "limit": 2, "save_images": 0},
                 model_dir=tiny_run / "results" / "models" / "diffusion", metrics_csv=tmp_path / "metrics.csv",
                 summary_json=tmp_path / "summary.json", images_dir=tmp_path / "images")
    assert not (tmp_path / "metrics.csv").exists()


def test_editing_the_baselines_plans_only_the_added_ones_and_the_summaries(tiny_run, tmp_path):
    config = tiny_config()
    added = config["evaluation"]["baselines"].pop(2)
    assert as_set(planned_jobs(tiny_run, config)) == summaries()

    # A run completed without it (its outputs gone, the others' kept), in a copy of the tiny run.
    workdir = shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)
    for protocol in PROTOCOLS:
        shutil.rmtree(workdir / "results" / "inpainted" / protocol / added)
        for path in (workdir / "results" / "metrics" / protocol).glob(f"{added}.*"):
            path.unlink()
    (workdir / "without.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(workdir, "--cores", "2", "--configfile", "without.yaml")
    assert as_set(planned_jobs(workdir, tiny_config())) == {*evaluations(methods=[added]), *summaries()}


def test_editing_the_evaluated_images_plans_the_real_features_too(tiny_run):
    config = tiny_config()
    config["evaluation"]["limit"] = 3
    assert as_set(planned_jobs(tiny_run, config)) == {job("real_features"), *evaluations(), *summaries()}


def test_editing_a_figure_setting_plans_only_the_figures_and_the_front_page_showing_them(tiny_run):
    config = tiny_config()
    config["figures"]["dpi"] += 10

    assert as_set(planned_jobs(tiny_run, config)) == {
        *(job("model_figures", model=model) for model in config["models"]),
        *(job("comparison_figures", protocol=p) for p in PROTOCOLS), job("front_page")}


def test_editing_the_comparison_grid_plans_only_the_comparison_figures_and_the_front_page(tiny_run):
    config = tiny_config()
    config["figures"]["comparison_images"] += 1

    assert as_set(planned_jobs(tiny_run, config)) == {*(job("comparison_figures", protocol=p) for p in PROTOCOLS),
                                                      job("front_page")}  # it shows the grids


def reversed_keys(value):
    """`value` with every mapping's keys in reversed order, recursively; lists as they are."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


def test_canonical_sorts_every_mapping_and_keeps_lists_in_order():
    value = canonical({"b": [3, 1, {"z": 1, "y": {"q": 0, "p": 1}}], "a": {"d": None, "c": (2, 1)}})
    assert list(value) == ["a", "b"] and list(value["a"]) == ["c", "d"]
    assert value["b"][:2] == [3, 1] and list(value["b"][2]) == ["y", "z"]
    assert list(value["b"][2]["y"]) == ["p", "q"] and value["a"]["c"] == (2, 1)

    config = load_config(TINY_CONFIG)
    reordered = reversed_keys(config)
    assert list(reordered) != list(config) and list(reordered["data"]["split"]) == ["test", "val", "train"]
    assert repr(canonical(reordered)) == repr(canonical(config)) != repr(config)
    assert canonical(reordered) == config and enabled_models(reordered) == enabled_models(config)
    square = reordered["masks"]["protocols"]["square"]
    square["side"] = square["side"][::-1]
    assert repr(canonical(reordered)) != repr(canonical(config))  # a list's order is a value


def test_reordering_every_key_plans_nothing_but_a_value_edit_still_plans(tiny_run):
    config = reversed_keys(tiny_config())
    assert list(config) == list(tiny_config())[::-1]
    assert planned_jobs(tiny_run, config) == []

    edited = next(iter(config["models"]))
    config["models"][edited]["training"]["seed"] = config["models"][edited]["training"].get("seed", 0) + 1
    assert as_set(planned_jobs(tiny_run, config)) == {
        job("train", model=edited), *evaluations(methods=[edited]), job("model_figures", model=edited),
        *summaries()}


def test_editing_a_model_resource_plans_nothing(tiny_run):
    config = tiny_config()
    edited = next(iter(config["models"]))
    config["models"][edited]["resources"]["runtime"] += 30
    config["models"][edited]["resources"]["gpus"] = 2

    assert planned_jobs(tiny_run, config) == []


def test_disabling_a_model_drops_it_from_the_table_without_retraining_the_others(tiny_run, tmp_path):
    config = tiny_config()
    disabled = next(iter(config["models"]))
    config["models"][disabled]["enabled"] = False
    assert as_set(planned_jobs(tiny_run, config)) == summaries()

    # For real, in a copy of the completed run (copied with its timestamps and Snakemake's records).
    workdir = shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)
    kept = [model for model in config["models"] if model != disabled]
    trained = {model: (workdir / "results" / "models" / model / "model.keras").stat().st_mtime_ns
               for model in kept}
    (workdir / "disabled.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(workdir, "--cores", "2", "--configfile", "disabled.yaml")

    table = pd.read_csv(workdir / "results" / "tables" / "comparison.csv")
    methods = set(table["method"])
    assert disabled not in methods
    assert set(kept) | set(config["evaluation"]["baselines"]) <= methods
    assert trained == {model: (workdir / "results" / "models" / model / "model.keras").stat().st_mtime_ns
                       for model in kept}


def test_a_model_folder_lost_to_an_interrupted_retraining_is_remade_and_the_tables_follow(tiny_run, tmp_path):
    """A forced retraining cut short (`--forcerun .../model.keras`, then SIGTERM) leaves no model folder:
    Snakemake deletes a failed job's outputs. The plain rerun must retrain it and redo what describes it."""
    assert as_set(planned_jobs(tiny_run, tiny_config())) == set()
    workdir = shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)
    shutil.rmtree(workdir / "results" / "models" / "diffusion")
    assert as_set(planned_jobs(workdir, tiny_config())) == {
        job("train", model="diffusion"), job("model_figures", model="diffusion"),
        *evaluations(methods=["diffusion"]), *summaries()}

    snakemake(workdir, "--cores", "2", "--configfile", "tiny.yaml")
    model = workdir / "results" / "models" / "diffusion"
    assert models.load(model).image_size == tiny_config()["data"]["image_size"]
    table = workdir / "results" / "tables" / "comparison.csv"
    for protocol in PROTOCOLS:
        summary = workdir / "results" / "metrics" / protocol / "diffusion.json"
        assert json.loads(summary.read_text())["model_dir"] == "results/models/diffusion"
        assert (model / "meta.json").stat().st_mtime < summary.stat().st_mtime < table.stat().st_mtime
    rows = pd.read_csv(table).query("method == 'diffusion'")
    assert len(rows) == len(PROTOCOLS)
    assert (rows["parameters"] == json.loads((model / "meta.json").read_text())["parameters"]).all()
    assert planned_jobs(workdir, tiny_config()) == []


# Switching the data ---------------------------------------------------------------------------------

def small_archive(path: Path, names=("cat", "coffee", "rocket", "astronaut")) -> Path:
    """A val_256-like tar of a few real photos at 40 px (JPEG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name in names:
            buffer = io.BytesIO()
            photo = skdata.chelsea() if name == "cat" else getattr(skdata, name)()
            Image.fromarray(photo).resize((40, 40)).save(buffer, "JPEG")
            member = tarfile.TarInfo(f"val_256/{name}.jpg")
            member.size = buffer.tell()
            buffer.seek(0)
            tar.addfile(member, buffer)
    return path


def places(config: dict, archive) -> dict:
    config["data"].update(source="places365", archive=str(archive), md5=None, categories_url=None)
    return config


@pytest.mark.bad_input
def test_a_missing_archive_stops_the_run_naming_it(tiny_run):
    """Switching to Places365 with an archive that is not there: one line naming it, nothing planned."""
    config = places(tiny_config(), "/some/missing.tar")
    path = tiny_run / "missing_archive.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tiny_run, "-n", "--configfile", str(path), check=False)
    assert result.returncode != 0 and "rule " not in result.stdout
    assert ("inpaintbench: error: missing_archive.yaml: key data.archive: /some/missing.tar does not exist "
            "(data.source is places365)") in result.stderr.splitlines()


def test_switching_the_data_source_plans_the_whole_data_stage(tiny_run, tmp_path, every_job):
    """demo -> places365 (an archive that exists) or -> folder: the manifest and all after it."""
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(skdata.coffee()).save(folder / "coffee.jpg")
    folder_config = tiny_config()
    folder_config["data"].update(source="folder", folder=str(folder))
    for config in (places(tiny_config(), small_archive(tmp_path / "val_256.tar")), folder_config):
        jobs = as_set(planned_jobs(tiny_run, config))
        assert job("manifest") in jobs and job("data_summary") in jobs
        assert as_set(j for j in every_job if j[0] != "fetch_categories") <= jobs


@pytest.mark.slow
def test_replacing_the_archive_reruns_the_manifest_even_with_an_older_file(tmp_path):
    """The data stage depends on the archive's state, not only its path and mtime: a different file put in
    its place with an older modification time (cp -p, rsync -a) reruns it."""
    workdir = copy_workflow(tmp_path / "workflow")
    archive = small_archive(tmp_path / "data" / "val_256.tar")
    config = places({"data": {"image_size": 16, "shards": 1, "split": {"train": 0.5, "val": 0.25, "test": 0.25}},
                     "masks": {}, "models": {}}, archive)
    (workdir / "archive.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "data", "--cores", "2", "--configfile", "archive.yaml")
    assert "Nothing to be done" in snakemake(workdir, "-n", "data", "--configfile", "archive.yaml").stdout

    old = archive.stat().st_mtime_ns - 10**12
    small_archive(archive, names=("cat", "coffee", "rocket"))
    os.utime(archive, ns=(old, old))
    plan = snakemake(workdir, "-n", "data", "--configfile", "archive.yaml").stdout
    assert "rule manifest:" in plan and "rule shard:" in plan
