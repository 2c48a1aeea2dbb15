"""config/places-cpu.yaml, the real Places365 experiment sized for an 8-core CPU overnight: it validates,
its header and sizes are the estimate recomputed from the benchmark records (bench/places_cpu_estimate.py
was run after their last re-recording), Snakemake plans every job on a user's own archive, and the whole
config runs end to end on a val_256-like archive, cut down by an overriding config file."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_workflow, snakemake
from inpaintbench import cpu_estimate
from inpaintbench.config import ConfigError, enabled_models, load_config
from inpaintbench.data import demo

CONFIG_FILE = ROOT / "config" / "places-cpu.yaml"
RECORDS = [json.loads((ROOT / f"bench/results/{name}.json").read_text())
           for name in ("demo_run", "train_throughput", "prepare")]


def test_the_config_validates_and_runs_the_paper_protocol_on_places():
    config = load_config(CONFIG_FILE)
    assert config["data"]["source"] == "places365" and config["data"]["image_size"] == 128
    assert config["data"]["limit"] == cpu_estimate.PLACES365_VAL_IMAGES
    assert "square" in config["evaluation"]["protocols"]
    assert set(enabled_models(config)) == {"gan", "diffusion", "gan_paper", "gan_paper_exact", "diffusion_paper",
                                           "diffusion_paper_exact"}
    assert all(m.get("resources", {}).get("gpus", 0) == 0 for m in config["models"].values())


def test_the_header_sizes_and_record_are_the_estimate_recomputed_from_the_benchmarks():
    config, text = load_config(CONFIG_FILE), CONFIG_FILE.read_text()
    jobs = cpu_estimate.job_seconds(config, *RECORDS)
    fitted = cpu_estimate.fitted_steps_per_epoch(config, *RECORDS)
    assert {name: config["models"][name]["training"]["steps_per_epoch"] for name in fitted} == fitted
    result = cpu_estimate.estimate(config, *RECORDS)
    assert cpu_estimate.block(text) == cpu_estimate.lines(config, result)
    recorded = json.loads((ROOT / "bench/results/places_cpu_estimate.json").read_text())
    assert {key: recorded[key] for key in result} == json.loads(json.dumps(result))
    # about 8 hours projected on 8 cores, bounded by its critical path; on 2 cores the same jobs, fewer at once
    assert 0.9 * cpu_estimate.TARGET_SECONDS <= result["projected_seconds"] <= cpu_estimate.TARGET_SECONDS
    assert result["projected_seconds"] >= max(result["projected_critical_path_seconds"],
                                              result["projected_work_per_job_slot_seconds"]) - 1
    threads = cpu_estimate.job_threads(config, RECORDS[0])
    assert result["two_cores_seconds"] == pytest.approx(cpu_estimate.schedule(jobs, 2 // threads), abs=1)
    assert result["two_cores_seconds"] >= result["projected_seconds"]


@pytest.mark.bad_input
def test_the_estimate_refuses_jobs_on_more_threads_than_were_measured():
    config = load_config(CONFIG_FILE)
    measured = RECORDS[0]["config"]["models"]["diffusion"]["resources"]["threads"]
    config["evaluation"]["resources"]["threads"] = measured + 1
    with pytest.raises(ConfigError, match=rf"evaluation\.resources\.threads {measured + 1}: .* {measured}-thread jobs"):
        cpu_estimate.job_threads(config, RECORDS[0])


@pytest.mark.bad_input
def test_the_estimate_refuses_a_model_its_measured_step_times_do_not_describe():
    config = load_config(CONFIG_FILE)
    config["models"]["diffusion"]["hparams"]["channels"] = 96
    with pytest.raises(ConfigError, match=r"models\.diffusion: kind and hparams differ"):
        cpu_estimate.job_seconds(config, *RECORDS)


def test_the_script_sets_only_the_strong_models_steps_and_the_block():
    text = CONFIG_FILE.read_text()
    resized = cpu_estimate.with_steps_per_epoch(text, {"gan": 7, "diffusion": 9})
    config = yaml.safe_load(resized)
    assert config["models"]["gan"]["training"]["steps_per_epoch"] == 7
    assert config["models"]["diffusion"]["training"]["steps_per_epoch"] == 9
    assert config["models"]["gan_paper"]["training"] == yaml.safe_load(text)["models"]["gan_paper"]["training"]
    rewritten = cpu_estimate.with_block(resized, ["one", "two"])
    assert cpu_estimate.block(rewritten) == ["one", "two"] and rewritten.count(cpu_estimate.BLOCK_START) == 1
    assert len(rewritten.splitlines()) == len(resized.splitlines()) - len(cpu_estimate.block(resized)) + 2


def test_snakemake_plans_the_whole_run_on_a_users_archive(tmp_path):
    workdir = copy_workflow(tmp_path / "run")
    archive = tmp_path / "val_256.tar"
    demo.val_like_tar(archive, count=4, size=32)
    config = yaml.safe_load(CONFIG_FILE.read_text())
    config["data"]["archive"] = str(archive)
    (workdir / "places.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    plan = snakemake(workdir, "-n", "--configfile", "places.yaml").stdout
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", plan.split("Job stats:")[1].split("Reasons:")[0], flags=re.M))
    methods = len(enabled_models(load_config(CONFIG_FILE))) + 4
    assert jobs["train"] == "6" and jobs["evaluate"] == str(3 * methods) and jobs["comparison_figures"] == "3"
    assert "fetch_archive" not in jobs and jobs["front_page"] == "1"


def tiny_overrides(archive) -> dict:
    """What cuts config/places-cpu.yaml down to seconds: few images at 32 px, 2 steps, narrow strong
    models, 4 test images of the paper's square protocol only (every protocol's evaluation is planned
    by the dry run above and run by the tiny workflow; here each would be ten more job start-ups);
    no checksum of the archive (not the real one), no category list and no InceptionV3 weights
    (nothing downloaded). A second --configfile, which Snakemake merges key by key over the first:
    --config would read its nested numbers as strings."""
    training = {"batch_size": 4, "epochs": 2, "steps_per_epoch": 1, "checkpoint_every": 1, "snapshot_epochs": [2],
                "snapshot_images": 2}
    config = load_config(CONFIG_FILE)
    models = {name: {"training": training, "resources": {"threads": 1}} for name in enabled_models(config)}
    models["gan"]["hparams"] = {"channels": 8, "depth": 2, "dilations": [2], "disc_channels": 8, "disc_layers": 2}
    models["diffusion"]["hparams"] = {"timesteps": 50, "channels": 8, "channel_mults": [1, 2], "sampling_steps": 2,
                                      "samples": 1}
    overrides = {
        "data": {"archive": str(archive), "md5": None, "categories_url": None, "limit": 36, "image_size": 32,
                 "shards": 2},
        "models": models,
        "evaluation": {"protocols": ["square"], "limit": 4, "batch_size": 4, "save_images": 2,
                       "resources": {"threads": 1}, "distribution": {"weights": "no-weights/inception_v3_notop.h5"}},
        "aggregation": {"bootstrap_samples": 100},
        "figures": {"comparison_images": 2, "dpi": 50},
    }
    return overrides


@pytest.mark.slow
def test_the_whole_config_runs_end_to_end_on_a_val_256_like_archive(tmp_path):
    workdir = copy_workflow(tmp_path / "run")
    archive = tmp_path / "val_256.tar"
    members = demo.val_like_tar(archive, count=40)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(tiny_overrides(archive)))
    snakemake(workdir, "--cores", "2", "--configfile", str(CONFIG_FILE), "tiny.yaml")
    config = load_config(CONFIG_FILE)
    methods = enabled_models(config) + config["evaluation"]["baselines"]
    manifest = pd.read_csv(workdir / "results/data/manifest.csv")
    assert list(manifest["source"]) == members[:36]  # the archive's first data.limit images
    summary = json.loads((workdir / "results/data/summary.json").read_text())
    assert summary["provenance"]["config"]["data"]["source"] == "places365"
    table = pd.read_csv(workdir / "results/tables/comparison.csv")
    assert list(zip(table["protocol"], table["method"])) == [("square", m) for m in methods]
    assert (table["n"] == min(4, summary["images"]["test"])).all() and table["psnr"].between(3, 80).all()
    assert "places365 images at 32 px" in (workdir / "results/report/front_page.html").read_text()
