"""Shared fixtures: a copy of the workflow in a temporary folder, one completed tiny run and its
report, and the strong models' tiny training batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inpaintbench import models, workflow

ROOT = Path(__file__).resolve().parent.parent
TINY_CONFIG = ROOT / "tests" / "configs" / "tiny.yaml"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's start-up lines as they look without a GPU (absl's pre-init warning, the CUDA stub, cuInit)
# and with one (oneDNN, CPU features): no job and no command may print them unless asked to be verbose.
TENSORFLOW_NOISE = ("absl::InitializeLog", "cudart_stub", "cuInit", "cuda_platform", "oneDNN", "cpu_feature_guard")


def unavailable(reason: str):
    """Skip a test whose system tool is missing (SLURM, Chromium); in CI (CI=true) it must run, so fail."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)


def copy_workflow(destination: Path) -> Path:
    """The workflow's files (no results) in `destination`, so a test never touches the checkout."""
    return workflow.copy_workflow(ROOT, destination)


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1500):
    """Run the snakemake CLI of this interpreter in `workdir`; returns the CompletedProcess."""
    command = [sys.executable, "-m", "snakemake", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole workflow run to completion on tests/configs/tiny.yaml; returns its folder, where
    snakemake.out holds what the run printed (stdout, then stderr)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("tiny_run"))
    shutil.copy2(TINY_CONFIG, workdir / "tiny.yaml")
    result = snakemake(workdir, "--cores", "2", "--configfile", "tiny.yaml")
    (workdir / "snakemake.out").write_text(result.stdout + result.stderr)
    return workdir


@pytest.fixture(scope="session")
def tiny_report(tiny_run, tmp_path_factory) -> Path:
    """The tiny run's report (`snakemake --report`), built once for every test that reads it; what the
    command printed (stdout, then stderr) is in report.out beside it."""
    report = tmp_path_factory.mktemp("tiny_report") / "report.html"
    result = snakemake(tiny_run, "--configfile", "tiny.yaml", "--report", str(report))
    (report.parent / "report.out").write_text(result.stdout + result.stderr)
    return report


def pytest_collection_modifyitems(items):
    """A test that reads the tiny run waits for the whole workflow: mark it slow where it is collected,
    so `pytest -m "not slow"` never starts the run.

    Under pytest-xdist (`--dist loadgroup`), one group per worker: every test of the tiny run in one
    (its session fixture would otherwise run once per worker), the SLURM tests in one (one cluster),
    and each other file's tests in its own (module fixtures, such as a trained model, built once)."""
    for item in items:
        if "tiny_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
            group = "tiny_run"
        elif item.get_closest_marker("slurm"):
            group = "slurm"
        else:
            group = item.path.name
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="module")
def batch():
    """Four smooth 32 px images (colour ramps, so the hole is predictable) with a square hole each:
    the fixed batch test_gan and test_diffusion train their tiny models on."""
    ramp = np.linspace(0.0, 1.0, 32, dtype=np.float32)
    images = np.stack([np.stack([np.add.outer(ramp, ramp) / 2, np.outer(ramp, 1 - ramp),
                                 np.full((32, 32), c, np.float32)], -1) for c in (0.1, 0.4, 0.6, 0.9)])
    masks = np.zeros((4, 32, 32, 1), np.float32)
    for i, (top, left) in enumerate([(4, 4), (10, 12), (16, 2), (8, 18)]):
        masks[i, top:top + 12, left:left + 12] = 1.0
    return images, masks


def fit(trainer, batch, steps: int) -> list[dict[str, float]]:
    """`steps` compiled training steps of `trainer` on the one fixed `batch`; the losses of each."""
    import tensorflow as tf  # here, not above: most tests never start TensorFlow, and this file loads for all

    step = tf.function(trainer.train_step)
    return [{key: float(value) for key, value in step(batch).items()} for _ in range(steps)]


def save_model(trainer, folder: Path, kind: str, hparams: dict) -> None:
    """`trainer`'s network and meta.json in `folder`, as models.load reads them (32 px images)."""
    trainer.export().save(folder / models.MODEL_FILE)
    (folder / models.META_FILE).write_text(json.dumps(
        {"name": kind, "kind": kind, "image_size": 32, "hparams": hparams}))
