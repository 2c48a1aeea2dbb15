"""The project's set-up: one dependency list in two places, every rule logged, benchmarked, enved, and
every file linted and formatted."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from conftest import ROOT, copy_workflow, snakemake

REQUIRED = {"snakemake", "tensorflow", "tensorflow-probability", "numpy", "pandas", "scikit-image",
            "pillow", "matplotlib", "tqdm"}


def requirements(lines) -> dict[str, str]:
    """{normalised name: specifier} of requirement strings."""
    found = {}
    for line in lines:
        requirement = Requirement(line)
        found[re.sub(r"[-_.]+", "-", requirement.name).lower()] = str(requirement.specifier)
    return found


def test_pyproject_and_conda_env_declare_the_same_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = requirements(project["dependencies"])
    env = yaml.safe_load((ROOT / "envs" / "inpaintbench.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert requirements(pip) == declared
    assert REQUIRED <= declared.keys()
    assert Requirement(project["dependencies"][0]).name == "snakemake"
    assert "9.0" in Requirement(next(d for d in project["dependencies"]
                                     if d.startswith("snakemake"))).specifier
    assert any(Requirement(d).extras == {"and-cuda"} for d in project["optional-dependencies"]["gpu"])
    assert {"pytest", "ruff", "snakefmt"} <= requirements(project["optional-dependencies"]["test"]).keys()


def rule_blocks() -> dict[str, str]:
    """{rule name: its text} of every rule in the Snakefile and rules/*.smk."""
    blocks = {}
    for path in [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]:
        parts = re.split(r"^(?:local)?rule (\w+):\s*$", path.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            blocks[name] = re.split(r"^\S", body, maxsplit=1, flags=re.M)[0]
    return blocks


def test_every_job_rule_has_log_benchmark_and_conda():
    blocks = rule_blocks()
    assert {"fetch_archive", "fetch_categories", "manifest", "shard", "data_summary"} <= blocks.keys()
    for name, body in blocks.items():
        if not re.search(r"^    output:", body, flags=re.M):
            continue  # a target rule: no job of its own
        for directive in ("log", "benchmark", "conda"):
            assert re.search(rf"^    {directive}:", body, flags=re.M), f"rule {name} has no {directive}:"


def test_snakemake_lint_finds_nothing_in_any_rule(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    result = snakemake(workdir, "--lint", check=False)
    lints = result.stdout + result.stderr
    assert "Lints for rule" not in lints, lints


def test_ruff_finds_nothing_in_any_python_file():
    """pyproject's [tool.ruff] rules over every Python file of the checkout (and no cache left in it)."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_would_change_no_workflow_file():
    workflow_files = ["Snakefile", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "rules").glob("*.smk"))]
    snakefmt = Path(sys.executable).parent / "snakefmt"  # the test extra's, beside this interpreter
    result = subprocess.run([snakefmt, "--check", "--diff", *workflow_files], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
