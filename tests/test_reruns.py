"""Incremental reruns: after a completed run, the jobs `snakemake -n` plans for each kind of config edit.

Every rule gets exactly its config slice through `params:`, with every mapping's keys sorted
(inpaintbench.config.canonical), so Snakemake's params trigger reruns what an edit affects and
nothing else, and reordering keys reruns nothing. Each test dry-runs the completed tiny run
(tests/conftest.py) with an edited copy of its config.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import TINY_CONFIG, snakemake
from inpaintbench.config import canonical, enabled_models, load_config

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


@pytest.fixture(scope="module")
def every_job(tiny_run) -> list[tuple[str, dict]]:
    """The whole workflow's jobs on the tiny config."""
    return planned_jobs(tiny_run, tiny_config(), "--forceall")


def test_editing_nothing_plans_nothing(tiny_run):
    assert planned_jobs(tiny_run, tiny_config()) == []


def test_editing_one_model_plans_its_training_evaluation_and_the_summaries(tiny_run):
    config = tiny_config()
    edited = next(iter(config["models"]))
    config["models"][edited]["training"]["seed"] = config["models"][edited]["training"].get("seed", 0) + 1

    assert as_set(planned_jobs(tiny_run, config)) == {
        job("train", model=edited), job("evaluate", method=edited), job("model_figures", model=edited),
        job("aggregate"), job("comparison_figures")}


def test_editing_the_masks_plans_the_shards_and_everything_after(tiny_run, every_job):
    config = tiny_config()
    config["masks"]["side"] = [0.3, 0.45]
    jobs = planned_jobs(tiny_run, config)

    upstream = {"fetch_archive", "fetch_categories", "manifest"}
    assert as_set(jobs) == as_set(j for j in every_job if j[0] not in upstream)
    assert sum(rule == "shard" for rule, _ in jobs) == config["data"]["shards"]
    assert sum(rule == "train" for rule, _ in jobs) == len(config["models"])


def test_editing_a_figure_setting_plans_only_the_figures(tiny_run):
    config = tiny_config()
    config["figures"]["dpi"] += 10

    assert as_set(planned_jobs(tiny_run, config)) == {
        *(job("model_figures", model=model) for model in config["models"]), job("comparison_figures")}


def test_editing_the_comparison_grid_plans_only_the_comparison_figures(tiny_run):
    config = tiny_config()
    config["figures"]["comparison_images"] += 1

    assert as_set(planned_jobs(tiny_run, config)) == {job("comparison_figures")}


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
    reordered["masks"]["side"] = reordered["masks"]["side"][::-1]
    assert repr(canonical(reordered)) != repr(canonical(config))  # a list's order is a value


def test_reordering_every_key_plans_nothing_but_a_value_edit_still_plans(tiny_run):
    config = reversed_keys(tiny_config())
    assert list(config) == list(tiny_config())[::-1]
    assert planned_jobs(tiny_run, config) == []

    edited = next(iter(config["models"]))
    config["models"][edited]["training"]["seed"] = config["models"][edited]["training"].get("seed", 0) + 1
    assert as_set(planned_jobs(tiny_run, config)) == {
        job("train", model=edited), job("evaluate", method=edited), job("model_figures", model=edited),
        job("aggregate"), job("comparison_figures")}


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
    assert as_set(planned_jobs(tiny_run, config)) == {job("aggregate"), job("comparison_figures")}

    # For real, in a copy of the completed run (copied with its timestamps and Snakemake's records).
    workdir = shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)
    kept = [model for model in config["models"] if model != disabled]
    trained = {model: (workdir / "results" / "models" / model / "model.keras").stat().st_mtime_ns
               for model in kept}
    (workdir / "disabled.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(workdir, "--cores", "2", "--configfile", "disabled.yaml")

    table = pd.read_csv(workdir / "results" / "tables" / "comparison.csv")
    methods = set(table.iloc[:, 0])
    assert disabled not in methods
    assert set(kept) | set(config["evaluation"]["baselines"]) <= methods
    assert trained == {model: (workdir / "results" / "models" / model / "model.keras").stat().st_mtime_ns
                       for model in kept}
