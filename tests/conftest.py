"""Shared fixtures: a copy of the workflow in a temporary folder, one completed tiny run and its report."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inpaintbench import workflow

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
    """The tiny run's report (`snakemake --report`), built once for every test that reads it."""
    report = tmp_path_factory.mktemp("tiny_report") / "report.html"
    snakemake(tiny_run, "--configfile", "tiny.yaml", "--report", str(report))
    return report
