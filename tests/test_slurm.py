"""The workflow on a real single-node SLURM cluster started on this machine (tests/slurm/start.sh).

Jobs go through sbatch with profiles/slurm; the node has two fake GPUs: one training asks for one
GPU, the other for both (resources.gpus: 2), so they run one after the other. Skipped (with the
reason) where SLURM is not installed or cannot start; in CI (CI=true) that is a failure instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, TINY_CONFIG, copy_workflow, snakemake, unavailable
from inpaintbench import models

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

START = ROOT / "tests" / "slurm" / "start.sh"
TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
GPU_MODEL = "fakegpu"
# The profile as users run it, with status checks starting after 2 s instead of 20 s.
SLURM_ARGS = ("--executor", "slurm", "--workflow-profile", "profiles/slurm",
              "--slurm-init-seconds-before-status-checks", "2")
# The tiny config with two models (a GAN and a diffusion model; the local end-to-end run covers
# all of them): the GAN trains long enough (~20 s) to be cancelled midway.
MODELS = ("gan_paper", "diffusion_paper")
LONG_MODEL = "gan_paper"
LONG_STEPS = {"epochs": 2, "steps_per_epoch": 100, "checkpoint_every": 10, "snapshot_epochs": [2]}
TWO_GPU_MODEL = "diffusion_paper"  # resources.gpus: 2


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """A running single-node cluster (started here or already up); returns its partition."""
    missing = [tool for tool in TOOLS if shutil.which(tool, path=SBIN_PATH) is None]
    if missing:
        unavailable(f"SLURM is not installed (missing {', '.join(missing)}); "
                    "bash tests/slurm/install.sh installs it")
    started = time.monotonic()
    result = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=240)
    if result.returncode != 0:
        unavailable(f"SLURM could not start: {(result.stderr or result.stdout).strip()[-1500:]}")
    print(f"SLURM cluster ready in {time.monotonic() - started:.1f} s: {result.stdout.strip()}")
    partitions = subprocess.run(["sinfo", "--noheader", "--format=%P"], capture_output=True,
                                text=True, check=True).stdout.split()
    return next(p.rstrip("*") for p in partitions if p.endswith("*"))


@pytest.fixture(scope="module")
def slurm_env(slurm_cluster):
    """Partition and GPU model set the way the README tells users to."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INPAINTBENCH_SLURM_PARTITION", slurm_cluster)
        patch.setenv("INPAINTBENCH_GPU_MODEL", GPU_MODEL)
        yield


def slurm_config() -> dict:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"] = {name: config["models"][name] for name in MODELS}
    config["models"][LONG_MODEL]["training"].update(LONG_STEPS)
    config["evaluation"]["protocols"] = ["square"]  # the scheduling under test, not the protocols
    config["models"][TWO_GPU_MODEL]["resources"]["gpus"] = 2
    return config


def wait_for(condition, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def first_match(pattern: str, path: Path):
    match = path.is_file() and re.search(pattern, path.read_text())
    return match and match.group(1)


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, slurm_env):
    """The workflow submitted to SLURM; the long training is cancelled with scancel (SIGTERM, as
    preemption does) once it has checkpointed, then the workflow is rerun to completion.
    Returns the folder and what the run saw."""
    workdir = copy_workflow(tmp_path_factory.mktemp("slurm_run"))
    (workdir / "slurm.yaml").write_text(yaml.safe_dump(slurm_config(), sort_keys=False))
    arguments = [*SLURM_ARGS, "--configfile", "slurm.yaml", "--verbose"]
    train_log = workdir / "results" / "logs" / "train" / f"{LONG_MODEL}.log"
    started = time.monotonic()

    first_output = workdir / "first_run.txt"
    with open(first_output, "w") as output:
        first = subprocess.Popen([sys.executable, "-m", "snakemake", *arguments, "--retries", "0"],
                                 cwd=workdir, stdout=output, stderr=subprocess.STDOUT)
    try:
        job_id = wait_for(lambda: first_match(rf"submitted with SLURM jobid (\d+) \(log: \S+"
                                              rf"/rule_train/{LONG_MODEL}/", first_output),
                          400, f"the submission of {LONG_MODEL}'s training")
        job = wait_for(lambda: (text := subprocess.run(["scontrol", "show", "job", job_id],
                                                       capture_output=True, text=True).stdout)
                       and "JobState=RUNNING" in text and text, 300, "the training job to run")
        checkpoint_step = int(wait_for(lambda: first_match(r"checkpoint at step (\d+) \(every", train_log),
                                       300, "a checkpoint during training"))
        subprocess.run(["scancel", job_id], check=True)
        first_code = first.wait(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    cancelled_log = (workdir / ".snakemake" / "slurm_logs" / "rule_train" / LONG_MODEL /
                     f"{job_id}.log").read_text()
    two_gpu_id = first_match(rf"submitted with SLURM jobid (\d+) \(log: \S+/rule_train/{TWO_GPU_MODEL}/",
                             first_output)
    two_gpu_job = subprocess.run(["scontrol", "show", "job", two_gpu_id], capture_output=True, text=True).stdout
    cancelled_at = time.monotonic() - started

    rerun = snakemake(workdir, *arguments, timeout=900)
    print(f"SLURM workflow: cancelled and stopped after {cancelled_at:.1f} s, "
          f"completed by the rerun after {time.monotonic() - started:.1f} s")
    return SimpleNamespace(workdir=workdir, output=first_output.read_text() + rerun.stdout + rerun.stderr,
                           job=job, two_gpu_job=two_gpu_job, checkpoint_step=checkpoint_step,
                           first_code=first_code, cancelled_log=cancelled_log, train_log=train_log.read_text())


def sbatch_calls(output: str) -> dict[str, list[str]]:
    """The sbatch command line of every submitted job (logged with --verbose), by rule."""
    calls: dict[str, list[str]] = {}
    for line in output.splitlines():
        if "sbatch call: " in line:
            call = line.split("sbatch call: ", 1)[1]
            rule = re.search(r"slurm_logs/rule_(\w+)/", call).group(1)
            calls.setdefault(rule, []).append(call)
    return calls


def test_workflow_completes_through_sbatch_with_the_gpus_of_each_training(slurm_run, slurm_cluster):
    workdir, calls = slurm_run.workdir, sbatch_calls(slurm_run.output)
    config = slurm_config()

    # Two submissions of the cancelled training (the run and the rerun), one of the other.
    assert sorted(re.search(r"rule_train/(\w+)/", call).group(1) for call in calls["train"]) == \
        sorted([*MODELS, LONG_MODEL])
    for call in calls["train"]:
        gpus = 2 if f"rule_train/{TWO_GPU_MODEL}/" in call else 1
        assert f"--gpus={GPU_MODEL}:{gpus}" in call, call
    assert re.search(rf"TresPerJob=gres:gpu:{GPU_MODEL}:1\b", slurm_run.job), slurm_run.job
    # The two-GPU training got both GPUs: SLURM's allocation, and the job's environment, which its
    # log reports (TensorFlow sees no GPU in these fake ones, so it trains on the CPU and says so).
    assert re.search(rf"TresPerJob=gres:gpu:{GPU_MODEL}:2\b", slurm_run.two_gpu_job), slurm_run.two_gpu_job
    two_gpu_log = (workdir / "results" / "logs" / "train" / f"{TWO_GPU_MODEL}.log").read_text()
    assert re.search(r"asked for 2 GPUs, training on 1 replica\(s\): TensorFlow sees 0 GPU\(s\) "
                     r"\(CUDA_VISIBLE_DEVICES=0,1\)", two_gpu_log), two_gpu_log
    assert len(calls["shard"]) == config["data"]["shards"]
    for rule, rule_calls in calls.items():
        for call in rule_calls:
            assert f" -p {slurm_cluster} " in call, call
            assert rule == "train" or ("--gpus" not in call and "--gres" not in call), call
    assert {"evaluate", "aggregate", "model_figures", "comparison_figures"} <= set(calls), sorted(calls)
    assert "Falling back to 'sacct'" not in slurm_run.output

    for model in MODELS:
        training = config["models"][model]["training"]
        meta = json.loads((workdir / "results" / "models" / model / "meta.json").read_text())
        assert meta["steps"] == training["epochs"] * training["steps_per_epoch"]
    table = pd.read_csv(workdir / "results" / "tables" / "comparison.csv")
    assert set(MODELS) | set(config["evaluation"]["baselines"]) <= set(table["method"]), table
    rerun = snakemake(workdir, "-n", *SLURM_ARGS, "--configfile", "slurm.yaml")
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_training_cancelled_by_scancel_resumes_on_rerun(slurm_run):
    total = LONG_STEPS["epochs"] * LONG_STEPS["steps_per_epoch"]
    model_dir = slurm_run.workdir / "results" / "models" / LONG_MODEL
    assert slurm_run.first_code != 0
    assert "SLURM status is: 'CANCELLED'" in slurm_run.output
    # SIGTERM reached the training, which checkpointed the step it stopped at (a periodic checkpoint
    # of that very step counts) and exited, as the job's SLURM log says.
    stopped = re.search(r"SIGTERM at step (\d+); last checkpoint step (\d+)", slurm_run.cancelled_log)
    assert stopped, slurm_run.cancelled_log
    sigterm_step = int(stopped.group(2))
    assert int(stopped.group(1)) == sigterm_step, slurm_run.cancelled_log
    assert 0 < slurm_run.checkpoint_step <= sigterm_step < total, slurm_run.cancelled_log
    assert re.search(rf"{LONG_MODEL}: resumed from step {sigterm_step} ", slurm_run.train_log), slurm_run.train_log

    meta = json.loads((model_dir / "meta.json").read_text())
    assert meta["steps"] == total and meta["resumed_from_step"] == sigterm_step
    history = pd.read_csv(model_dir / "history.csv")
    assert history["epoch"].tolist() == list(range(1, LONG_STEPS["epochs"] + 1))
    assert history["step"].iloc[-1] == total

    # The finished model is the one the last snapshot came from: it inpaints the snapshot images alike.
    reference = np.load(model_dir / "snapshots" / "reference.npz")
    last = np.load(model_dir / "snapshots" / f"epoch_{LONG_STEPS['epochs']:05d}.npz")["inpainted"]
    inpainted = models.load(model_dir)(reference["damaged"] / 255.0, reference["mask"].astype(np.float32),
                                       original=reference["original"] / 255.0)
    difference = np.abs(np.round(inpainted * 255.0) - last.astype(np.float64))
    assert difference.mean() < 2.0, difference.mean()
