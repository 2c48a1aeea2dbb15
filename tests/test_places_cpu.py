"""config/places-cpu.yaml, the real Places365 experiment sized for a CPU: it validates, Snakemake plans
every job on a user's own archive (nothing downloaded), and the step times its estimate quotes are the
ones the demo benchmark measured."""

from __future__ import annotations

import json
import re

import yaml

from conftest import ROOT, copy_workflow, snakemake
from inpaintbench.config import enabled_models, load_config
from inpaintbench.data import demo

CONFIG_FILE = ROOT / "config" / "places-cpu.yaml"


def test_the_config_validates_and_runs_the_paper_protocol_on_places():
    config = load_config(CONFIG_FILE)
    assert config["data"]["source"] == "places365" and config["data"]["image_size"] == 128
    assert config["data"]["limit"] == 8000 and "square" in config["evaluation"]["protocols"]
    assert set(enabled_models(config)) == {"gan", "diffusion", "gan_paper", "gan_paper_exact", "diffusion_paper",
                                           "diffusion_paper_exact"}
    assert all(m.get("resources", {}).get("gpus", 0) == 0 for m in config["models"].values())


def test_the_estimate_quotes_the_measured_demo_step_times():
    measured = json.loads((ROOT / "bench/results/demo_run.json").read_text())
    demo_config, header = load_config(ROOT / "config/demo.yaml"), CONFIG_FILE.read_text()
    config = load_config(CONFIG_FILE)
    for model in ("gan", "diffusion"):
        training = demo_config["models"][model]["training"]
        steps = training["epochs"] * training["steps_per_epoch"]
        seconds = measured["job_wall_seconds"]["train"][model]
        assert f"{model} {seconds:.1f} s for {steps} steps = {seconds / steps:.2f} s/step" in header
        assert config["models"][model]["hparams"] == demo_config["models"][model]["hparams"]  # same step cost
        planned = config["models"][model]["training"]
        assert f"{planned['epochs']} x {planned['steps_per_epoch']} steps x {seconds / steps:.2f} s" in header


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
